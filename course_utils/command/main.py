"""The command line: ``python -m course_utils {train,evaluate,predict} ...`` (also ``cnn-course``).

This module only reads the arguments and decides the run context (once, at the top); the work
is :mod:`course_utils.command.commands`'. Under ``torchrun`` every process runs the same
command; see :func:`build_parser` for the options and README.md for the multi-GPU and
multi-node commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from course_utils.context import RunContext
from course_utils.transfer.recipe import TransferConfig

__all__ = ["build_parser", "main"]

PROG = "python -m course_utils"

DESCRIPTION = """\
Notebook 06's flower classifier as a command: the same recipe (TransferConfig), the same
two stages and the same checkpoints (stage1.pt, stage2.pt) the notebook loads.

  train     stage 1 (new head on a frozen pretrained backbone), then stage 2 (fine-tuning)
  evaluate  accuracy, top-5 and a per-class report of a checkpoint
  predict   the five most probable flowers of image files

One device:   python -m course_utils train FOLDER
Several GPUs: torchrun --nproc_per_node=8 -m course_utils train FOLDER
"""

TRAIN_EPILOG = """\
--batch-size is the global batch: with N processes each takes batch/N images per step, so the
optimisation is the same on 1 or N processes and a checkpoint resumes on any number of them.
Under torchrun, the checkpoint folder and the data must be on a file system every process sees.
Progress: bars on a terminal; one line per epoch when the output goes to a file.

examples:
  python -m course_utils train ~/flowers --image-size 224 --model resnet152
  python -m course_utils train --data synthetic --stage1-epochs 2 --stage2-epochs 1
  torchrun --nproc_per_node=8 -m course_utils train ~/flowers --batch-size 256 --out runs/r152
  python -m course_utils train ~/flowers --out runs/r152 --resume --stage2-epochs 10
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {value}")
    return value


def _add_context_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("machine")
    group.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: CUDA, then MPS, then the CPU; "
                                        "under torchrun each process takes cuda:LOCAL_RANK)")
    group.add_argument("--precision", choices=("fp32", "bf16", "fp16"),
                       help="mixed precision on CUDA (default: bf16 where the GPU has it; fp32 elsewhere)")
    group.add_argument("--workers", type=int, metavar="N", help="DataLoader worker processes per training process")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the three subcommands, with their help texts."""
    defaults = TransferConfig()
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{train,evaluate,predict}", required=True)

    train = commands.add_parser(
        "train", help="train the flower classifier (one process, or many under torchrun)",
        description="Train notebook 06's classifier: stage 1 (head only), then stage 2 (fine-tuning).",
        epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = train.add_argument_group("data")
    data.add_argument("folder", nargs="?", metavar="FOLDER",
                      help="flowers in the notes' layout (train/, valid/, [test/], cat_to_name.json); "
                           "default: $COURSE_FLOWERS_DIR, a downloaded Flowers-102, or the synthetic flowers")
    data.add_argument("--data", choices=("auto", "download", "synthetic"), default="auto",
                      help="auto: FOLDER or what is already there; download: fetch Flowers-102 first; "
                           "synthetic: the course's drawn flowers, offline (default: %(default)s)")
    data.add_argument("--synthetic-size", type=_positive, default=160, metavar="PX",
                      help="size of drawn flowers (default: %(default)s)")
    data.add_argument("--synthetic-per-class", type=_positive, nargs=3, default=(30, 10, 10),
                      metavar=("TRAIN", "VALID", "TEST"), help="drawn flowers per class (default: 30 10 10)")
    data.add_argument("--max-per-class", type=_positive, metavar="N", help="use at most N images per class and split")
    data.add_argument("--train-per-class", type=_positive, metavar="N",
                      help="train on at most N images per class; validation and test stay whole "
                           "(how the recipe fares with less data)")

    recipe = train.add_argument_group("recipe (TransferConfig)")
    recipe.add_argument("--model", default=defaults.model_name,
                        help="efficientnet_lite0 (offline weights; also _lite1, _lite2) or a torchvision model, "
                             "e.g. resnet152; names joined by + share one head, e.g. "
                             "efficientnet_lite0+efficientnet_lite1 (default: %(default)s)")
    recipe.add_argument("--image-size", type=_positive, default=defaults.image_size, metavar="PX",
                        help="crop size (default: %(default)s; the notes use 224)")
    recipe.add_argument("--resize-to", type=_positive, metavar="PX",
                        help="shorter side before the crop (default: image size x 256/224)")
    recipe.add_argument("--batch-size", type=_positive, default=defaults.batch_size, metavar="N",
                        help="global batch, all processes together (default: %(default)s)")
    recipe.add_argument("--stage1-epochs", type=_positive, default=defaults.stage1_epochs, metavar="N",
                        help="(default: %(default)s)")
    recipe.add_argument("--stage2-epochs", type=_not_negative, default=defaults.stage2_epochs, metavar="N",
                        help="(default: %(default)s; 0: stage 1 alone, its best epoch is the result)")
    recipe.add_argument("--stage1-patience", type=_positive, default=defaults.stage1_patience, metavar="N",
                        help="stop stage 1 after N epochs without a better validation accuracy "
                             "(default: %(default)s, every epoch)")
    recipe.add_argument("--stage1-lr", type=float, default=defaults.stage1_lr, metavar="LR",
                        help="Adam's rate for the head (default: %(default)s)")
    recipe.add_argument("--stage2-lr", type=float, default=defaults.stage2_lr, metavar="LR",
                        help="rate for fine-tuning (default: %(default)s)")
    recipe.add_argument("--step-size", type=_positive, default=defaults.step_size, metavar="N",
                        help="StepLR: divide the rate every N epochs (default: %(default)s)")
    recipe.add_argument("--gamma", type=float, default=defaults.gamma,
                        help="StepLR's factor (default: %(default)s)")
    recipe.add_argument("--stage1-on-images", action="store_true",
                        help="stage 1 the notes' way: a backbone pass over the images every epoch "
                             "(default: on the backbone's features, computed once)")
    recipe.add_argument("--stage1-augment", action="store_true",
                        help="stage 1 on augmented images (needs --stage1-on-images)")
    recipe.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")

    run = train.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="checkpoint folder (default: DATA_DIR/runs/transfer)")
    run.add_argument("--resume", action="store_true",
                     help="keep a finished stage 1 and continue stage 2 from its last finished epoch "
                          "(on any number of processes)")
    run.add_argument("--compile", action="store_true", help="torch.compile the model for stage 2 (pays off on a GPU)")
    _add_context_options(train)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, top-5 and a per-class report of a checkpoint",
        description="Evaluate a checkpoint (stage1.pt or stage2.pt) on one split of a flower folder.")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT")
    evaluate.add_argument("folder", nargs="?", metavar="FOLDER",
                          help="flowers in the notes' layout (default: the data the checkpoint was trained on)")
    evaluate.add_argument("--split", default="valid", help="valid or test (default: %(default)s)")
    evaluate.add_argument("--batch-size", type=_positive, default=64)
    _add_context_options(evaluate)

    predict = commands.add_parser(
        "predict", help="the five most probable flowers of image files",
        description="Predict image files with a checkpoint: the top 5 classes with their names and probabilities.")
    predict.add_argument("checkpoint", metavar="CHECKPOINT")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("-k", type=_positive, default=5, help="how many classes to show (default: %(default)s)")
    _add_context_options(predict)
    return parser


def _context(args: argparse.Namespace) -> RunContext:
    from course_utils.env import run_context

    return run_context(device=args.device, precision=args.precision, num_workers=args.workers, command=True)


def _train(args: argparse.Namespace, context: RunContext) -> None:
    from course_utils.command.commands import train

    if args.stage1_augment and not args.stage1_on_images:
        raise ValueError("--stage1-augment needs --stage1-on-images: cached features are computed once, "
                         "from un-augmented images.")
    config = TransferConfig(
        model_name=args.model, image_size=args.image_size, resize_to=args.resize_to,
        stage1_augment=args.stage1_augment, stage1_features=not args.stage1_on_images,
        batch_size=args.batch_size, stage1_epochs=args.stage1_epochs, stage2_epochs=args.stage2_epochs,
        stage1_lr=args.stage1_lr, stage2_lr=args.stage2_lr, step_size=args.step_size, gamma=args.gamma,
        stage1_patience=args.stage1_patience,
        seed=args.seed, max_per_class=_limits(args.max_per_class, args.train_per_class), progress=True)
    out = args.out or context.data_dir / "runs" / "transfer"
    train(args.folder, config, out, context=context, data=args.data, synthetic_size=args.synthetic_size,
          synthetic_per_class=tuple(args.synthetic_per_class), resume=args.resume, compile=args.compile)


def _limits(per_split: int | None, train: int | None) -> int | dict[str, int] | None:
    """--max-per-class for every split, with --train-per-class for the training split."""
    if train is None:
        return per_split
    limits = dict.fromkeys(("valid", "test"), per_split) if per_split is not None else {}
    limits["train"] = train if per_split is None else min(train, per_split)
    return limits


def _evaluate(args: argparse.Namespace, context: RunContext) -> None:
    from course_utils.command.commands import evaluate_checkpoint

    report = evaluate_checkpoint(args.checkpoint, args.folder, split=args.split, batch_size=args.batch_size,
                                 context=context)
    n = len(report.predictions.targets)
    print(f"{args.checkpoint} on {report.split} ({n} images, {len(report.class_names)} classes)")
    print(f"accuracy {report.accuracy:.4f}  top-5 {report.top5:.4f}")
    width = max(len(row["class"]) for row in report.per_class)
    print(f"{'class':<{width}}  images  correct  recall  precision  most often taken for")
    for row in report.per_class:
        print(f"{row['class']:<{width}}  {row['images']:>6}  {row['correct']:>7}  {row['recall']:>6.3f}  "
              f"{row['precision']:>9.3f}  {row['confused with']}")


def _predict(args: argparse.Namespace, context: RunContext) -> None:
    from course_utils.command.commands import predict_images

    for image, ranked in predict_images(args.checkpoint, args.images, k=args.k, context=context).items():
        print(image)
        for place, (name, probability) in enumerate(ranked, start=1):
            print(f"  {place}. {name:<30} {probability:6.1%}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 2 with a one-line error for input that cannot work."""
    from course_utils.training.distributed import RanksDisagree

    args = build_parser().parse_args(argv)
    try:
        context = _context(args)
        {"train": _train, "evaluate": _evaluate, "predict": _predict}[args.command](args, context)
    except (ValueError, FileNotFoundError, RanksDisagree) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr, flush=True)
        return 2
    return 0
