"""Which stage 2 (fine-tuning) passes stage 1? ``python -m benchmarks.stage2_recipes``, measured.

For every seed, stage 1 runs as notebook 06 runs it (the new head of EfficientNet-Lite0 on the
frozen backbone's cached features, Adam 3e-3 at a constant rate until 8 epochs bring no better
validation accuracy; the best epoch is kept). Then every stage-2 recipe starts from that same
stage-1 checkpoint (weights and the head's Adam state, as ``stage2_optimizer`` loads them) and
trains with the course's ``fit`` on the same augmented photos, in the same order, for the same
number of epochs, at the same batch size. A recipe (:class:`Recipe`) says

- which layers train: ``"all"`` (every layer but BatchNorm, the notes' way) or ``"last stage"``
  (the blocks from the backbone's last stride-2 block on and ``conv_head``,
  :func:`~course_utils.models.stages.split_last_stage`, plus the head; the frozen part then needs
  no backward pass);
- the rate of each parameter group: the head and the unfrozen backbone (discriminative rates:
  the head 10x the backbone);
- the schedule: ``"step"`` (the notes' ``StepLR(4, 0.1)``, stepped after each epoch),
  ``"warm-up"`` (``OneCycleLR`` stepped after every batch: linear warm-up from rate/25 over the
  first ``warmup_epochs``, then half a cosine down to almost 0) or ``"cosine"`` (the same decay
  without the warm-up: the control that says what the warm-up itself bought).

Every finished (seed, recipe) run is saved under ``--out`` (default
``data/runs/stage2-recipes``) as ``result.json`` with its best weights (``best.pt``); an
interrupted run continues from its epoch checkpoint. The recipe is chosen by validation accuracy
alone (:mod:`benchmarks.stage2_report`); only then are the chosen recipe's and stage 1's best
checkpoints evaluated, once, on ``test/``. A side-by-side timing (the same batches through every
recipe, interleaved; :func:`time_recipes`) gives each recipe's training time per batch relative
to the notes' recipe, robust to the load of a shared machine.

Examples::

    python -m benchmarks.stage2_recipes                       # flowers102-small, 3 seeds, 3 epochs
    python -m benchmarks.stage2_recipes --markdown benchmarks/RESULTS.md
    python -m benchmarks.stage2_recipes --quick --out /tmp/s2 # synthetic flowers, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.measure import machine_description
from benchmarks.stage2_report import report
from course_utils.analysis.predictions import predict
from course_utils.data.flowers import flower_datasets, flower_loaders
from course_utils.data.synthetic_flowers import make_synthetic_flowers
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform
from course_utils.env import RunContext, run_context, seed_everything
from course_utils.models.build import build_model
from course_utils.models.heads import head_parameters, unfreeze
from course_utils.models.registry import preprocessing_for
from course_utils.storage.cache import write_json
from course_utils.storage.checkpoints import TrainingState
from course_utils.training.loop import fit, run_phase, train_mode
from course_utils.transfer.features import cached_features, fit_head
from course_utils.transfer.recipe import TransferConfig, last_stage_parameters, stage1_optimizer

__all__ = ["RECIPES", "Recipe", "Setup", "main", "recipe_optimizer", "run_recipe", "run_stage1", "time_recipes"]

REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flowers102-small"
MODEL = "efficientnet_lite0"


@dataclass(frozen=True)
class Recipe:
    """One stage 2: which layers train, at which rates, on which schedule, for how many epochs."""

    name: str
    depth: str = "all"  # "all": every layer but BatchNorm; "last stage": split_last_stage(model) + the head
    head_lr: float = 1e-4
    backbone_lr: float = 1e-4
    schedule: str = "step"  # "step": StepLR(step_size, gamma) per epoch; "warm-up" / "cosine": OneCycleLR per batch
    warmup_epochs: float = 0.0
    epochs: int = 3
    step_size: int = 4
    gamma: float = 0.1

    @property
    def key(self) -> str:
        """The folder name of this recipe's runs (the name and the epoch budget)."""
        return f"{self.name.replace(' ', '-').replace('+', 'and').replace('.', '')}-{self.epochs}ep"

    def describe(self) -> str:
        """The recipe in words, exactly enough to rebuild it."""
        layers = "every layer but BatchNorm" if self.depth == "all" else "last stage (blocks 11-15, conv_head) + head"
        rates = (f"one rate {self.head_lr:g}" if self.head_lr == self.backbone_lr
                 else f"head {self.head_lr:g}, backbone {self.backbone_lr:g}")
        if self.schedule == "step":
            schedule = f"StepLR({self.step_size}, {self.gamma:g})"
        elif self.schedule == "warm-up":
            schedule = f"linear warm-up from rate/25 over {self.warmup_epochs:g} epoch, then cosine to ~0 (per batch)"
        else:
            schedule = "cosine from the rate to ~0, per batch, no warm-up"
        return f"{layers}; {rates}; {schedule}; {self.epochs} epoch{'s' if self.epochs > 1 else ''}"


RECIPES = (  # in the order they run: the four the issue asks for first, combinations and controls after
    Recipe("notes"),
    Recipe("last stage", depth="last stage"),
    Recipe("discriminative", head_lr=1e-3),
    Recipe("warm-up", schedule="warm-up", warmup_epochs=1),
    Recipe("last stage + disc. + warm-up", depth="last stage", head_lr=1e-3, schedule="warm-up", warmup_epochs=1),
    Recipe("disc. + warm-up", head_lr=1e-3, schedule="warm-up", warmup_epochs=1),
    Recipe("cosine, no warm-up", schedule="cosine"),
)


@dataclass
class Setup:
    """The data, the transforms and the run context every run of one measurement shares."""

    folder: Path
    out: Path
    context: RunContext
    image_size: int = 160
    batch_size: int = 32
    head_epochs: int = 60  # notebook 06: stage 1 on features until PATIENCE epochs bring nothing
    patience: int = 8
    progress: bool = True

    def __post_init__(self) -> None:
        mean, std = preprocessing_for(MODEL)
        self.settings = TransformSettings(image_size=self.image_size, mean=mean, std=std, resize_to=self.image_size)
        self.sets = flower_datasets(self.folder, train_transform(self.settings), eval_transform(self.settings))
        self.plain = flower_datasets(self.folder, eval_transform(self.settings), eval_transform(self.settings))
        self.classes = len(self.sets["train"].classes)

    def loaders(self, seed: int) -> dict[str, Any]:
        """The course's loaders: augmented training photos, shuffled from ``seed``; plain valid/test."""
        return flower_loaders(self.sets, batch_size=self.batch_size, seed=seed, context=self.context)


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text} (load {os.getloadavg()[0]:.1f})", flush=True)


def run_stage1(setup: Setup, seed: int) -> dict[str, Any]:
    """Stage 1 for one seed (notebook 06's way); ``stage1.pt`` and ``stage1.json`` in the seed's folder."""
    folder = setup.out / f"seed-{seed}"
    if (folder / "stage1.json").is_file():
        return json.loads((folder / "stage1.json").read_text())
    seed_everything(seed)
    model = build_model(MODEL, setup.classes, feature_extract=True, context=setup.context)
    features = {split: cached_features(model, setup.plain[split], context=setup.context, progress=False,
                                       desc=f"{split} features") for split in ("train", "valid")}
    config = TransferConfig(image_size=setup.image_size, batch_size=setup.batch_size, stage1_patience=setup.patience)
    optimizer, scheduler = stage1_optimizer(model, replace(config, step_size=setup.head_epochs))  # constant rate
    started = time.perf_counter()
    history = fit_head(model, features["train"], features["valid"], epochs=setup.head_epochs, patience=setup.patience,
                       optimizer=optimizer, scheduler=scheduler, criterion=nn.NLLLoss(), batch_size=setup.batch_size,
                       context=setup.context, checkpoint=folder / "stage1.pt", seed=seed, progress=False)
    result = {"seed": seed, "best_val": float(history.best_acc), "best_epoch": history.best_epoch,
              "epochs": history.epochs, "seconds": time.perf_counter() - started,
              "feature_seconds": sum(f.seconds for f in features.values()),
              "trainable": sum(p.numel() for p in head_parameters(model))}
    write_json(folder / "stage1.json", result)
    _say(f"seed {seed}: stage 1 best val {history.best_acc:.3f} (epoch {history.best_epoch} of {history.epochs})")
    return result


def recipe_optimizer(model: nn.Module, stage1: Path, recipe: Recipe, steps_per_epoch: int
                     ) -> tuple[torch.optim.Adam, Any]:
    """``stage2_optimizer`` with the recipe's layers, rates and schedule: (Adam, scheduler).

    The best stage-1 weights are loaded, the head's Adam state from stage 1 too (group 0), and
    the unfrozen backbone parameters join as group 1 at ``recipe.backbone_lr``.
    """
    state = TrainingState.load(stage1)
    model.load_state_dict(state.best_weights())
    optimizer = torch.optim.Adam(list(head_parameters(model)))
    optimizer.load_state_dict(state.optimizer)
    if recipe.depth == "all":
        backbone = unfreeze(model, batchnorm=False)
    elif recipe.depth == "last stage":
        backbone = last_stage_parameters(model)
        for p in backbone:
            p.requires_grad = True
    else:
        raise ValueError(f"Unknown depth {recipe.depth!r}: use 'all' or 'last stage'.")
    for group in optimizer.param_groups:
        group["lr"] = recipe.head_lr
        group.pop("initial_lr", None)
    optimizer.add_param_group({"params": backbone, "lr": recipe.backbone_lr})
    if recipe.schedule == "step":
        return optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe.step_size, gamma=recipe.gamma)
    if recipe.schedule not in ("warm-up", "cosine"):
        raise ValueError(f"Unknown schedule {recipe.schedule!r}: use 'step', 'warm-up' or 'cosine'.")
    total = recipe.epochs * steps_per_epoch
    if total < 4:
        raise ValueError(f"A per-batch schedule needs at least 4 batches in all, got {total}.")
    # OneCycleLR's first phase needs two steps at least: "cosine" spends them flat at the rate (div_factor 1)
    warmup = round(recipe.warmup_epochs * steps_per_epoch) if recipe.schedule == "warm-up" else 2
    warmup = min(max(warmup, 2), total - 2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[recipe.head_lr, recipe.backbone_lr], total_steps=total, pct_start=warmup / total,
        anneal_strategy="cos", cycle_momentum=False, div_factor=25.0 if recipe.schedule == "warm-up" else 1.0)
    return optimizer, scheduler


def run_recipe(setup: Setup, seed: int, recipe: Recipe) -> dict[str, Any]:
    """Stage 2 by ``recipe`` from seed ``seed``'s stage-1 checkpoint; ``result.json`` and ``best.pt``."""
    folder = setup.out / f"seed-{seed}" / recipe.key
    if (folder / "result.json").is_file():
        return json.loads((folder / "result.json").read_text())
    stage1 = run_stage1(setup, seed)
    _say(f"seed {seed}, {recipe.name} ({recipe.epochs} epochs): training")
    seed_everything(seed)
    model = build_model(MODEL, setup.classes, pretrained=False, feature_extract=True, context=setup.context)
    loaders = setup.loaders(seed)
    optimizer, scheduler = recipe_optimizer(model, setup.out / f"seed-{seed}" / "stage1.pt", recipe,
                                            len(loaders["train"]))
    load = os.getloadavg()[0]
    history = fit(model, loaders["train"], loaders["valid"], epochs=recipe.epochs, optimizer=optimizer,
                  scheduler=scheduler, criterion=nn.NLLLoss(), context=setup.context, checkpoint=folder / "train.pt",
                  resume=True, seed=seed, progress=setup.progress)
    torch.save(model.state_dict(), folder / "best.pt")  # fit loaded the best epoch's weights
    result = {"seed": seed, "recipe": asdict(recipe), "stage1_val": stage1["best_val"],
              "best_val": float(history.best_acc), "best_epoch": history.best_epoch, "val_acc": history.val_acc,
              "train_loss": history.train_loss, "epoch_seconds": history.epoch_seconds,
              "seconds": sum(history.epoch_seconds),
              "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "load_average": [load, os.getloadavg()[0]], "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json(folder / "result.json", result)
    (folder / "train.pt").unlink(missing_ok=True)  # the epoch checkpoint (weights, Adam) is no longer needed
    _say(f"seed {seed}, {recipe.name}: best val {history.best_acc:.3f} (stage 1 {stage1['best_val']:.3f}), "
         f"{result['seconds']:.0f} s")
    return result


def test_accuracy(setup: Setup, seed: int, recipe: Recipe | None) -> float:
    """Test accuracy of a finished run's best weights (``recipe=None``: stage 1's), computed once."""
    folder = setup.out / f"seed-{seed}" / (recipe.key if recipe else "")
    saved = folder / "test.json"
    if saved.is_file():
        return float(json.loads(saved.read_text())["test_acc"])
    model = build_model(MODEL, setup.classes, pretrained=False, context=setup.context)
    if recipe is None:
        state = TrainingState.load(folder / "stage1.pt")
        model.load_state_dict(state.best_weights())
    else:
        model.load_state_dict(torch.load(folder / "best.pt", weights_only=True))
    accuracy = predict(model, setup.loaders(seed)["test"], context=setup.context).accuracy()
    write_json(saved, {"test_acc": accuracy, "date": time.strftime("%Y-%m-%d %H:%M")})
    return accuracy


def time_recipes(setup: Setup, recipes: list[Recipe], *, batches: int = 4, rounds: int = 4) -> dict[str, Any]:
    """Training seconds per batch of each recipe on the same batches, recipes interleaved.

    The batches are augmented training photos drawn once; every recipe's model starts from seed
    0's stage-1 checkpoint and trains with ``fit``'s own step (:func:`run_phase`), one batch at a
    time, each timed. Each round runs every recipe on every batch, the order of the recipes
    rotated from round to round. On a shared machine a step is now and then slowed down several
    times over by other processes, never sped up, so the fastest step of each recipe is its cost
    (``seconds_per_batch``, the basis of the ratios); the median is kept beside it.
    """
    saved = setup.out / "timing.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    run_stage1(setup, 0)
    seed_everything(0)
    iterator = iter(setup.loaders(0)["train"])
    fixed = [next(iterator) for _ in range(batches)]
    criterion, runs = nn.NLLLoss(), {}
    for recipe in recipes:
        model = build_model(MODEL, setup.classes, pretrained=False, feature_extract=True, context=setup.context)
        optimizer, _ = recipe_optimizer(model, setup.out / "seed-0" / "stage1.pt", recipe, 100)  # (schedule unused)
        model.to(memory_format=torch.channels_last)
        runs[recipe.name] = (train_mode(model), optimizer)
    bar = setup.context.progress_bar(total=0, disable=True)
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    load = [os.getloadavg()[0]]
    for round_ in range(rounds + 1):  # round 0 warms up (first-call allocations, Adam's state), not counted
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            model, optimizer = runs[name]
            for batch in fixed[:1] if round_ == 0 else fixed:
                started = time.perf_counter()
                run_phase(model, [batch], criterion, train=True, context=setup.context, layout=torch.channels_last, bar=bar,
                          optimizer=optimizer)
                if round_:
                    times[name].append(time.perf_counter() - started)
    load.append(os.getloadavg()[0])
    fastest = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    result = {"seconds_per_batch": fastest, "median_seconds_per_batch": median, "batch_size": setup.batch_size,
              "batches": batches, "rounds": rounds, "load_average": load, "threads": torch.get_num_threads(),
              "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json(saved, result)
    _say("side-by-side timing, fastest (median) s per batch: "
         + ", ".join(f"{n} {fastest[n]:.2f} ({median[n]:.2f})" for n in names))
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stage2_recipes", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(REAL_DATA), help="a flower folder (default: %(default)s)")
    parser.add_argument("--out", default=None, help="results folder (default: DATA_DIR/runs/stage2-recipes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="stage-2 epochs of every recipe (default 3)")
    parser.add_argument("--long-epochs", type=int, default=6,
                        help="then the chosen recipe again with this many epochs (0: skip; default 6)")
    parser.add_argument("--recipes", nargs="+", default=None, help="names of recipes to run (default: all)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--markdown", default=None, help="append the results section to this file")
    parser.add_argument("--quick", action="store_true", help="synthetic flowers at 64 px, 2 seeds, 1 epoch")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    context = run_context(command=True)
    out = Path(args.out) if args.out else context.data_dir / "runs" / "stage2-recipes"
    if args.quick:
        folder = make_synthetic_flowers(context.data_dir / "synthetic-stage2", image_size=64, per_class=(4, 2, 2),
                                        progress=False)
        setup = Setup(folder, out, context, image_size=64, batch_size=8, head_epochs=4, patience=2,
                      progress=not args.no_progress)
        seeds, epochs, long_epochs = args.seeds[:2], 1, 2
    else:
        folder = Path(args.data)
        if not (folder / "train").is_dir():
            print(f"[skip] {folder}: no train/ folder there. Pass --data FOLDER (the notes' layout) or --quick.")
            return 1
        setup = Setup(folder, out, context, progress=not args.no_progress)
        seeds, epochs, long_epochs = args.seeds, args.epochs, args.long_epochs
    if len(seeds) < 2:
        raise SystemExit("Give at least two seeds (--seeds 0 1 2): the noise is measured from them.")
    recipes = [replace(r, epochs=epochs) for r in RECIPES if args.recipes is None or r.name in args.recipes]
    unknown = set(args.recipes or ()) - {r.name for r in RECIPES}
    if unknown:
        raise SystemExit(f"Unknown recipe(s) {sorted(unknown)}; choose from {[r.name for r in RECIPES]}.")
    _say(f"{len(recipes)} recipes x {len(seeds)} seeds, {epochs} epochs each, results in {out}")
    timing = time_recipes(setup, recipes, batches=2 if args.quick else 4, rounds=1 if args.quick else 4)
    runs = {r.name: [run_recipe(setup, s, r) for s in seeds] for r in recipes}
    stage1 = [run_stage1(setup, s) for s in seeds]
    shown: dict[str, Any] = dict(folder=str(folder), machine=_machine(args.threads), image_size=setup.image_size,
                 batch_size=setup.batch_size, patience=setup.patience, valid_photos=len(setup.sets["valid"]))
    text, chosen = report(recipes, runs, stage1, timing, **shown)
    long_runs = None
    if long_epochs and long_epochs != epochs:
        longer = replace(chosen, epochs=long_epochs)
        long_runs = (longer, [run_recipe(setup, s, longer) for s in seeds])
    tests = {"stage 1": [test_accuracy(setup, s, None) for s in seeds],
             chosen.name: [test_accuracy(setup, s, chosen) for s in seeds]}
    text, _ = report(recipes, runs, stage1, timing, long_runs=long_runs, tests=tests, **shown)
    print(text, flush=True)
    if args.markdown:
        with open(args.markdown, "a") as file:
            file.write("\n" + text)
    return 0


def _machine(threads: int) -> str:
    info = machine_description(torch.device("cpu"))
    return f"{info['date']}, {info['cpu']} ({threads} asked), torch {info['torch']}"


if __name__ == "__main__":
    raise SystemExit(main())
