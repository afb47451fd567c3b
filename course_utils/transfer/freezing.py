"""How much to freeze for how much data (数据量越小，冻住的参数越多): the experiment's grid.

The notes' rule of thumb: the smaller the data set, the more layers to freeze (冻住). This
module measures it. For every training-set size (images per class), every *depth* of
fine-tuning and several seeds, one run:

- ``"head"``: the backbone frozen, only the new ``Linear`` head trains (stage 1);
- ``"last stage"``: from that head, the backbone's last stage trains too
  (:func:`~course_utils.models.stages.split_last_stage`: EfficientNet-Lite or ResNet);
- ``"all"``: from that head, every layer but BatchNorm trains (the notes' stage 2).

``pretrained=False`` runs the same network from random weights (everything trainable,
BatchNorm included): what pretraining (预训练) buys.

What keeps it affordable on a CPU: every image is decoded and resized once (no augmentation,
so every depth sees the same pixels), the frozen part of the network runs once per image, and
every finished run is saved as a small JSON file, so running the experiment again (a second run
of the notebook) loads the results instead of training. Validation accuracy is the best
epoch's, as :func:`~course_utils.training.loop.fit` keeps it, for every depth alike. The verdict
between depths is the course's one noise rule (:func:`course_utils.analysis.seeds.compare`).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.analysis.seeds import Comparison, SeedRuns, compare
from course_utils.context import RunContext
from course_utils.data.flowers import FlowerSource, flower_datasets
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.models.build import build_model
from course_utils.models.heads import head_parameters, unfreeze
from course_utils.models.stages import LastStageSplit, split_last_stage
from course_utils.storage.cache import cache_key, write_json
from course_utils.training.loop import fit

__all__ = ["DEPTHS", "DepthVerdict", "FreezeExperiment", "FreezeResult", "conclusion", "pick_per_class",
           "summary_table"]

DEPTHS = ("head", "last stage", "all")
"""How much trains, from the most frozen to the least."""


@dataclass(frozen=True)
class FreezeResult:
    """One run: its settings and the best validation accuracy it reached."""

    images_per_class: int
    depth: str
    seed: int
    pretrained: bool
    best_acc: float
    best_epoch: int
    epochs: int
    trainable: int  # parameter values that trained
    seconds: float


def pick_per_class(targets: Sequence[int], n: int, seed: int) -> list[int]:
    """Indices of ``n`` images of every class (fewer if a class has fewer), chosen at random by ``seed``."""
    if n < 1:
        raise ValueError(f"images per class must be at least 1, got {n}.")
    generator = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[int]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(int(target), []).append(index)
    chosen = []
    for target in sorted(by_class):
        indices = by_class[target]
        order = torch.randperm(len(indices), generator=generator)[:n]
        chosen += [indices[i] for i in order.tolist()]
    return sorted(chosen)


Tensors = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class FreezeExperiment:
    """Images per class × depth × seed, on one flower folder; results saved in ``results_dir``.

    The model is built with :func:`~course_utils.models.build.build_model` (an EfficientNet-Lite or
    a ResNet: its last stage is cut by :func:`~course_utils.models.stages.split_last_stage`).
    Stage 1 (the head) trains up to ``head_epochs`` epochs with Adam at ``head_lr``, stopping
    after ``patience`` epochs without improvement; ``"last stage"`` and ``"all"`` then train
    ``finetune_epochs`` epochs at ``finetune_lr`` from that head; from scratch, ``scratch_lr``.
    """

    source: FlowerSource | str | Path
    context: RunContext
    model_name: str = "efficientnet_lite0"
    image_size: int = 64
    train_per_class: int | None = None  # decode only this many training images per class (the largest size)
    valid_per_class: int | None = None
    head_epochs: int = 40
    patience: int = 5
    head_lr: float = 3e-3
    finetune_epochs: int = 3
    finetune_lr: float = 1e-4
    scratch_lr: float = 1e-3
    batch_size: int = 32
    results_dir: str | Path | None = None
    progress: bool = True
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def _bar(self, **kwargs: Any) -> Any:
        return self.context.progress_bar(disable=not self.progress, **kwargs)

    # ---------------------------------------------------------------- data, once
    def _images(self) -> Tensors:
        """Every training and validation image as a tensor (eval transform), decoded once."""
        if "images" not in self._cache:
            from course_utils.models.registry import preprocessing_for

            mean, std = preprocessing_for(self.model_name)
            settings = TransformSettings(image_size=self.image_size, mean=mean, std=std, resize_to=self.image_size)
            limits: dict[str, Any] = {"train": self.train_per_class, "valid": self.valid_per_class}
            sets = flower_datasets(self.source, eval_transform(settings), eval_transform(settings),
                                   max_per_class=limits)
            self._cache["classes"] = len(sets["train"].classes)
            self._cache["files"] = [str(p) for p, _ in sets["train"].samples + sets["valid"].samples]
            out = {}
            for split in ("train", "valid"):
                dataset = sets[split]
                images = torch.empty(len(dataset), 3, self.image_size, self.image_size, dtype=torch.float16)
                with self._bar(total=len(dataset), desc=f"decoding {split} images") as bar:
                    for i in range(len(dataset)):
                        images[i] = dataset[i][0]
                        bar.update(1)
                out[split] = (images, torch.tensor(dataset.targets))
            self._cache["images"] = out
        return self._cache["images"]

    @torch.inference_mode()
    def _frozen_outputs(self, split_model: LastStageSplit) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Activations entering the last stage and pooled features, for every image (eval mode)."""
        split_model.prefix.eval()
        split_model.suffix.eval()
        out = {}
        for split, (images, targets) in self._images().items():
            acts, feats = [], []
            with self._bar(total=len(images), desc=f"frozen backbone, {split}") as bar:
                for start in range(0, len(images), 64):
                    a = split_model.prefix(images[start:start + 64].float())
                    acts.append(a.half())
                    feats.append(split_model.suffix.features(a))
                    bar.update(len(a))
            out[split] = (torch.cat(acts), torch.cat(feats), targets)
        return out

    # ---------------------------------------------------------------- results on disk
    def _results_path(self, images_per_class: int, seed: int, pretrained: bool) -> Path | None:
        if self.results_dir is None:
            return None
        self._images()
        settings = {k: v for k, v in asdict(self).items() if k not in ("source", "results_dir", "progress",
                                                                       "context", "_cache")}
        key = cache_key({"settings": settings, "files": self._cache["files"], "n": images_per_class,
                         "seed": seed, "pretrained": pretrained}, length=20)
        return Path(self.results_dir) / f"freeze-{key}.json"

    # ---------------------------------------------------------------- one size and seed
    def run_one(self, images_per_class: int, seed: int, depths: Sequence[str] = DEPTHS,
                pretrained: bool = True) -> list[FreezeResult]:
        """Every depth for one training-set size and seed (from the saved results when they exist)."""
        unknown = [d for d in depths if d not in DEPTHS]
        if unknown:
            raise ValueError(f"Unknown depth(s) {unknown}; choose from {DEPTHS}.")
        if not pretrained and tuple(depths) != ("all",):
            raise ValueError("From random weights only depth 'all' makes sense: pass depths=('all',).")
        path = self._results_path(images_per_class, seed, pretrained)
        saved: dict[str, dict] = json.loads(path.read_text()) if path is not None and path.is_file() else {}
        missing = [d for d in depths if d not in saved]
        if missing:
            saved.update({r.depth: asdict(r) for r in self._train(images_per_class, seed, missing, pretrained)})
            if path is not None:
                write_json(path, saved)
        return [FreezeResult(**saved[d]) for d in depths]

    def _train(self, n: int, seed: int, depths: Sequence[str], pretrained: bool) -> list[FreezeResult]:
        torch.manual_seed(seed)
        self._images()
        model = build_model(self.model_name, self._cache["classes"], pretrained=pretrained, feature_extract=True,
                            context=self.context)
        split_model = split_last_stage(model)
        # a pretrained backbone is the same for every seed: its outputs are computed once
        frozen_key = ("frozen", self.model_name) if pretrained else ("frozen", self.model_name, seed)
        if frozen_key not in self._cache:
            self._cache[frozen_key] = self._frozen_outputs(split_model)
        frozen = self._cache[frozen_key]
        chosen = torch.tensor(pick_per_class(frozen["train"][2].tolist(), n, seed))
        nll = nn.NLLLoss()

        train_targets, valid_targets = frozen["train"][2], frozen["valid"][2]

        def loaders(train_x: torch.Tensor, valid_x: torch.Tensor) -> tuple[DataLoader, DataLoader]:
            """The chosen training images' and every validation image's inputs at the depth's entry point."""
            train = TensorDataset(train_x[chosen].float(), train_targets[chosen])
            valid = TensorDataset(valid_x.float(), valid_targets)
            return (DataLoader(train, batch_size=self.batch_size, shuffle=True,
                               generator=torch.Generator().manual_seed(seed)),
                    DataLoader(valid, batch_size=128))

        results = []
        started = time.perf_counter()  # stage 1: the head on the pooled features (with the model's dropout)
        head = nn.Sequential(split_model.suffix.dropout, split_model.suffix.head)
        optimizer = torch.optim.Adam(head_parameters(model), lr=self.head_lr)
        history = fit(head, *loaders(frozen["train"][1], frozen["valid"][1]), epochs=self.head_epochs, optimizer=optimizer, criterion=nll,
                      context=self.context, seed=seed, progress=False, patience=self.patience)
        trained_head = copy.deepcopy(model.state_dict())
        if "head" in depths:
            results.append(self._result(n, "head", seed, pretrained, history, model, time.perf_counter() - started))
        for depth in ("last stage", "all"):
            if depth not in depths:
                continue
            started = time.perf_counter()
            model.load_state_dict(trained_head)
            if depth == "last stage":  # BatchNorm keeps its pretrained statistics, as in stage 2
                for module in split_model.trainable:
                    module.requires_grad_(True)
                for module in model.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.requires_grad_(False)
                net: nn.Module = split_model.suffix
                train, valid = loaders(frozen["train"][0], frozen["valid"][0])  # the last stage's inputs
            else:
                unfreeze(model, batchnorm=not pretrained)
                net = model
                images = self._images()
                train, valid = loaders(images["train"][0], images["valid"][0])
            lr = self.finetune_lr if pretrained else self.scratch_lr
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
            history = fit(net, train, valid, epochs=self.finetune_epochs, optimizer=optimizer, criterion=nll,
                          context=self.context, seed=seed, progress=False)
            results.append(self._result(n, depth, seed, pretrained, history, model, time.perf_counter() - started))
            model.requires_grad_(False)
            head.requires_grad_(True)
        return results

    @staticmethod
    def _result(n: int, depth: str, seed: int, pretrained: bool, history: Any, model: nn.Module,
                seconds: float) -> FreezeResult:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return FreezeResult(n, depth, seed, pretrained, float(history.best_acc), int(history.best_epoch),
                            int(history.epochs), trainable, round(seconds, 2))

    # ---------------------------------------------------------------- the grid
    def run(self, sizes: Iterable[int], seeds: Iterable[int], depths: Sequence[str] = DEPTHS,
            pretrained: bool = True) -> list[FreezeResult]:
        """Every size × seed (× depth), with a progress bar; saved results are reused."""
        grid = [(n, s) for n in sizes for s in seeds]
        results = []
        with self._bar(total=len(grid), desc="sizes × seeds") as bar:
            for n, s in grid:
                results += self.run_one(n, s, depths, pretrained=pretrained)
                bar.update(1)
        return results


def _groups(results: Sequence[FreezeResult]) -> dict[tuple[int, str, bool], SeedRuns]:
    groups: dict[tuple[int, str, bool], list[FreezeResult]] = {}
    for r in results:
        groups.setdefault((r.images_per_class, r.depth, r.pretrained), []).append(r)
    return {key: SeedRuns(tuple(r.seed for r in runs), tuple({"value": r.best_acc} for r in runs))
            for key, runs in groups.items()}


def summary_table(results: Sequence[FreezeResult]) -> list[dict]:
    """One row per (images per class, depth, pretrained): mean, standard deviation and number of seeds."""
    rows = [{"images_per_class": n, "depth": depth, "pretrained": pretrained, "mean": runs.mean(),
             "std": runs.std(), "seeds": len(runs.seeds)}
            for (n, depth, pretrained), runs in _groups(results).items()]
    return sorted(rows, key=lambda r: (r["images_per_class"], not r["pretrained"], DEPTHS.index(r["depth"])))


@dataclass(frozen=True)
class DepthVerdict:
    """For one training-set size: the best depth, the runner-up, and the best minus the runner-up."""

    images_per_class: int
    best: str
    runner_up: str | None
    comparison: Comparison | None

    @property
    def clear(self) -> bool:
        """True when the best depth leads the runner-up by more than the seed noise."""
        return self.comparison is not None and self.comparison.differs


def conclusion(results: Sequence[FreezeResult], *, min_noise: float = 0.0) -> dict[int, DepthVerdict]:
    """For each size (pretrained runs): the best depth, and whether it beats the runner-up by more
    than the noise, by :func:`~course_utils.analysis.seeds.compare` (Welch's 95 % interval)."""
    groups = _groups([r for r in results if r.pretrained])
    out = {}
    for n in sorted({key[0] for key in groups}):
        ranked = sorted(((depth, runs) for (size, depth, _), runs in groups.items() if size == n),
                        key=lambda item: item[1].mean(), reverse=True)
        best, runs = ranked[0]
        if len(ranked) == 1 or len(runs.seeds) < 2:
            out[n] = DepthVerdict(n, best, None, None)
            continue
        second, second_runs = ranked[1]
        out[n] = DepthVerdict(n, best, second, compare(runs, second_runs, min_noise=min_noise))
    return out
