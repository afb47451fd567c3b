"""The command line's options, generated: a recipe setting is typed once, in ``TransferConfig``.

:func:`build_parser` reads :class:`~course_utils.transfer.recipe.TransferConfig`'s fields (name,
type, default, and the help text in each field's metadata) and makes one option per field
(:func:`add_dataclass_options`); :func:`config_from` turns the parsed arguments back into a
``TransferConfig``. A field added to the recipe is an option at once, and a test checks that
``train --help`` lists every field. The other options (the data, the run, the machine) are not
recipe settings; their choices come from the modules that own them.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from course_utils.data.flowers import DATA_CHOICES
from course_utils.env import PRECISIONS
from course_utils.transfer.recipe import TransferConfig

__all__ = ["PROG", "add_dataclass_options", "build_parser", "config_from", "option_name"]

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
Progress: bars on a terminal; a plain line every tenth of a long step when the output goes to a file.

examples:
  python -m course_utils train ~/flowers --image-size 224 --model resnet152
  python -m course_utils train --data synthetic --stage1-epochs 2 --stage2-epochs 1
  torchrun --nproc_per_node=8 -m course_utils train ~/flowers --batch-size 256 --out runs/r152
  python -m course_utils train ~/flowers --out runs/r152 --resume --stage2-epochs 10
"""


def option_name(field: dataclasses.Field) -> str:
    """``--stage1-lr`` for the field ``stage1_lr`` (or the field's ``flag`` metadata)."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _number(kind: type, minimum: int | None) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def add_dataclass_options(group: Any, cls: type) -> None:
    """One option per field of the dataclass ``cls``, from its type, default and metadata."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        optional = type(None) in typing.get_args(kind)
        base = next((a for a in typing.get_args(kind) if a is not type(None)), kind) if optional else kind
        text = field.metadata.get("help")
        if text is None:
            raise TypeError(f"{cls.__name__}.{field.name} has no help text (field metadata 'help').")
        default = field.default
        if base is bool:
            group.add_argument(option_name(field), dest=field.name, action=argparse.BooleanOptionalAction,
                               default=default, help=f"{text} (default: {'yes' if default else 'no'})")
            continue
        if base not in (int, float, str):
            raise TypeError(f"{cls.__name__}.{field.name}: no command-line option for the type {kind}.")
        parse = _number(base, field.metadata.get("minimum")) if base in (int, float) else str
        shown = "not set" if default is None else default
        group.add_argument(option_name(field), dest=field.name, type=parse, default=default,
                           choices=field.metadata.get("choices"), metavar=field.metadata.get("metavar"),
                           help=f"{text} (default: {shown})")


def config_from(args: argparse.Namespace) -> TransferConfig:
    """The ``TransferConfig`` the parsed options describe."""
    return TransferConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TransferConfig)})


def _add_machine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("machine")
    group.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: CUDA, then MPS, then the CPU; "
                                        "under torchrun each process takes cuda:LOCAL_RANK)")
    group.add_argument("--precision", choices=PRECISIONS,
                       help="mixed precision on CUDA (default: bf16 where the GPU has it; fp32 elsewhere)")
    group.add_argument("--workers", type=_number(int, 0), metavar="N",
                       help="DataLoader worker processes per training process")
    parser.add_argument("--traceback", action="store_true", help="show Python's traceback when an error stops the command")


def build_parser() -> argparse.ArgumentParser:
    """The parser of the three subcommands, with their help texts."""
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
    data.add_argument("--data", choices=DATA_CHOICES, default="auto",
                      help="auto: FOLDER or what is already there; download: fetch Flowers-102 first; "
                           "synthetic: the course's drawn flowers, offline (default: %(default)s)")
    data.add_argument("--synthetic-size", type=_number(int, 1), default=160, metavar="PX",
                      help="size of drawn flowers (default: %(default)s)")
    data.add_argument("--synthetic-per-class", type=_number(int, 1), nargs=3, default=(30, 10, 10),
                      metavar=("TRAIN", "VALID", "TEST"), help="drawn flowers per class (default: 30 10 10)")
    add_dataclass_options(train.add_argument_group("recipe (TransferConfig, course_utils/transfer/recipe.py)"),
                          TransferConfig)
    run = train.add_argument_group("run")
    run.add_argument("--out", metavar="DIR", help="checkpoint folder (default: a folder under DATA_DIR/runs/ "
                                                  "named after the data, the model and the recipe)")
    run.add_argument("--resume", action="store_true",
                     help="keep a finished stage 1 and continue stage 2 from its last finished epoch "
                          "(on any number of processes)")
    run.add_argument("--compile", action="store_true", help="torch.compile the model for stage 2 (pays off on a GPU)")
    _add_machine_options(train)

    evaluate = commands.add_parser(
        "evaluate", help="accuracy, top-5 and a per-class report of a checkpoint",
        description="Evaluate a checkpoint (stage1.pt or stage2.pt) on one split of a flower folder.")
    evaluate.add_argument("checkpoint", metavar="CHECKPOINT")
    evaluate.add_argument("folder", nargs="?", metavar="FOLDER",
                          help="flowers in the notes' layout (default: the data the checkpoint was trained on)")
    evaluate.add_argument("--split", default="valid", help="valid or test (default: %(default)s)")
    evaluate.add_argument("--batch-size", type=_number(int, 1), default=64, metavar="N")
    _add_machine_options(evaluate)

    predict = commands.add_parser(
        "predict", help="the five most probable flowers of image files",
        description="Predict image files with a checkpoint: the top 5 classes with their names and probabilities.")
    predict.add_argument("checkpoint", metavar="CHECKPOINT")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("-k", type=_number(int, 1), default=5, help="how many classes to show (default: %(default)s)")
    _add_machine_options(predict)
    return parser
