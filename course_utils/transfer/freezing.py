"""How much to freeze for how much data (数据量越小，冻住的参数越多): an experiment runner.

The notes' rule of thumb: the smaller the data set, the more layers to freeze (冻住). This
module measures it. For every training-set size (images per class), every *depth* of
fine-tuning and several seeds, one run:

- ``"head"``: the backbone frozen, only the new ``Linear`` head trains (stage 1);
- ``"last stage"``: from that head, the last stage of the backbone trains too (for
  EfficientNet-Lite the blocks at the coarsest resolution and the final 1×1 convolution;
  for a ResNet ``layer4``);
- ``"all"``: from that head, every layer but BatchNorm trains (the notes' stage 2).

``pretrained=False`` runs the same network from random weights (everything trainable,
BatchNorm included): what pretraining (预训练) buys.

What keeps it affordable on a CPU: every image is decoded and resized once (no augmentation,
so every depth sees the same pixels), the frozen part of the network runs once per image
(features for ``"head"``, the activations entering the last stage for ``"last stage"``), and
every finished run is saved as a small JSON file, so running the experiment again (a second
run of the notebook) loads the results instead of training. Validation accuracy is the best
epoch's, as :func:`~course_utils.training.loop.fit` keeps it, for every depth alike.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from course_utils.data.flowers import FlowerSource, flower_datasets
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.env import RunContext
from course_utils.models.build import build_model, head_parameters, preprocessing_for, unfreeze
from course_utils.training.loop import fit

__all__ = ["DEPTHS", "FreezeExperiment", "FreezeResult", "LitePrefix", "LiteSuffix", "conclusion", "last_stage",
           "pick_per_class",
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


def last_stage(model: Any) -> tuple[int, list[nn.Module]]:
    """Where the backbone's last stage starts, and its modules.

    EfficientNet-Lite: the blocks from the last stride-2 block on, and ``conv_head``
    (returns that block's index). ResNet: ``layer4`` (returns -1: no cached cut).
    """
    if hasattr(model, "blocks") and hasattr(model, "conv_head"):
        strides = [block.depthwise_conv.stride[0] for block in model.blocks]
        cut = max(i for i, s in enumerate(strides) if s == 2)
        return cut, [*model.blocks[cut:], model.conv_head]
    if hasattr(model, "layer4"):
        return -1, [model.layer4]
    raise ValueError(f"No 'last stage' is defined for {type(model).__name__}: use an EfficientNet-Lite "
                     "or a ResNet, or the depths 'head' and 'all'.")


class LitePrefix(nn.Module):
    """EfficientNet-Lite up to its last stage (frozen: computed once per image)."""

    def __init__(self, model: nn.Module, cut: int) -> None:
        super().__init__()
        self.model, self.cut = model, cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        return m.blocks[: self.cut](F.relu6(m.bn0(m.conv_stem(x))))


class LiteSuffix(nn.Module):
    """EfficientNet-Lite from its last stage on: last blocks, head convolution, pooling, classifier."""

    def __init__(self, model: nn.Module, cut: int) -> None:
        super().__init__()
        self.model, self.cut = model, cut

    def features(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        x = F.relu6(m.bn1(m.conv_head(m.blocks[self.cut:](x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        return m.fc(m.dropout(self.features(x)))


@dataclass
class FreezeExperiment:
    """Images per class × depth × seed, on one flower folder; results saved in ``results_dir``.

    The model is built with :func:`~course_utils.models.build.build_model` (an
    EfficientNet-Lite: its last stage is cached, see :func:`last_stage`). Stage 1 (the head)
    trains up to ``head_epochs`` epochs with Adam at ``head_lr``, stopping after ``patience``
    epochs without improvement; ``"last stage"`` and ``"all"`` then train ``finetune_epochs``
    epochs at ``finetune_lr`` from that head; from scratch, ``scratch_lr``.
    """

    source: FlowerSource | str | Path
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
    context: RunContext | None = None
    progress: bool = True
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    # ---------------------------------------------------------------- data, once
    def _images(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every training and validation image as a tensor (eval transform), decoded once."""
        if "images" not in self._cache:
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
                for i in tqdm(range(len(dataset)), desc=f"decoding {split} images", disable=not self.progress):
                    images[i] = dataset[i][0]
                out[split] = (images, torch.tensor(dataset.targets))
            self._cache["images"] = out
        return self._cache["images"]

    @torch.inference_mode()
    def _frozen_outputs(self, model: nn.Module, cut: int) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Activations entering the last stage and pooled features, for every image (eval mode)."""
        model.eval()
        out = {}
        for split, (images, targets) in self._images().items():
            acts, feats = [], []
            for start in tqdm(range(0, len(images), 64), desc=f"frozen backbone, {split}", disable=not self.progress):
                a = LitePrefix(model, cut)(images[start:start + 64].float())
                acts.append(a.half())
                feats.append(LiteSuffix(model, cut).features(a))
            out[split] = (torch.cat(acts), torch.cat(feats), targets)
        return out

    # ---------------------------------------------------------------- results on disk
    def _key(self, images_per_class: int, seed: int, pretrained: bool) -> str:
        self._images()
        settings = {k: v for k, v in asdict(self).items() if k not in ("source", "results_dir", "progress",
                                                                       "context", "_cache")}
        blob = json.dumps([settings, self._cache["files"], images_per_class, seed, pretrained], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def _results_path(self, key: str) -> Path | None:
        if self.results_dir is None:
            return None
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
        path = self._results_path(self._key(images_per_class, seed, pretrained))
        saved: dict[str, dict] = json.loads(path.read_text()) if path is not None and path.is_file() else {}
        if all(d in saved for d in depths):
            return [FreezeResult(**saved[d]) for d in depths]
        missing = [d for d in depths if d not in saved]

        torch.manual_seed(seed)
        model = build_model(self.model_name, self._cache["classes"], pretrained=pretrained, feature_extract=True)
        cut, _ = last_stage(model)
        # a pretrained backbone is the same for every seed: its outputs are computed once
        frozen_key = ("frozen", self.model_name) if pretrained else ("frozen", self.model_name, seed)
        if frozen_key not in self._cache:
            self._cache[frozen_key] = self._frozen_outputs(model, cut)
        frozen = self._cache[frozen_key]
        chosen = torch.tensor(pick_per_class(frozen["train"][2].tolist(), images_per_class, seed))
        nll = nn.NLLLoss()

        def loaders(split_input: int) -> tuple[DataLoader, DataLoader]:
            train = TensorDataset(frozen["train"][split_input][chosen].float(), frozen["train"][2][chosen])
            valid = TensorDataset(frozen["valid"][split_input].float(), frozen["valid"][2])
            generator = torch.Generator().manual_seed(seed)
            return (DataLoader(train, batch_size=self.batch_size, shuffle=True, generator=generator),
                    DataLoader(valid, batch_size=256))

        results = []
        # stage 1: the head on the pooled features (the model's own dropout and fc)
        started = time.perf_counter()
        lite: Any = model  # an EfficientNet-Lite: its dropout and fc are the head
        head = nn.Sequential(lite.dropout, lite.fc)
        optimizer = torch.optim.Adam(head_parameters(model), lr=self.head_lr)
        history = fit(head, *loaders(1), epochs=self.head_epochs, optimizer=optimizer, criterion=nll,
                      context=self.context, seed=seed, progress=False, patience=self.patience)
        trained_head = copy.deepcopy(model.state_dict())
        if "head" in missing:
            results.append(self._result(images_per_class, "head", seed, pretrained, history, model,
                                        time.perf_counter() - started))
        for depth in ("last stage", "all"):
            if depth not in missing:
                continue
            started = time.perf_counter()
            model.load_state_dict(trained_head)
            if depth == "last stage":
                for module in last_stage(model)[1]:
                    for p in module.parameters():
                        p.requires_grad = True
                for module in model.modules():  # BatchNorm keeps its pretrained statistics, as in stage 2
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.requires_grad_(False)
                net: nn.Module = LiteSuffix(model, cut)
                train, valid = loaders(0)
            else:
                unfreeze(model, batchnorm=not pretrained)
                images = self._images()
                train = DataLoader(TensorDataset(images["train"][0][chosen].float(), images["train"][1][chosen]),
                                   batch_size=self.batch_size, shuffle=True,
                                   generator=torch.Generator().manual_seed(seed))
                valid = DataLoader(TensorDataset(*images["valid"]), batch_size=128,
                                   collate_fn=lambda b: (torch.stack([x for x, _ in b]).float(),
                                                         torch.stack([y for _, y in b])))
                net = model
            lr = self.finetune_lr if pretrained else self.scratch_lr
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
            history = fit(net, train, valid, epochs=self.finetune_epochs, optimizer=optimizer, criterion=nll,
                          context=self.context, seed=seed, progress=False)
            results.append(self._result(images_per_class, depth, seed, pretrained, history, model,
                                        time.perf_counter() - started))
            for p in model.parameters():
                p.requires_grad = False
            for p in lite.fc.parameters():
                p.requires_grad = True
        if path is not None:
            saved.update({r.depth: asdict(r) for r in results})
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(saved, indent=1))
            os.replace(temporary, path)  # whole or absent, never half written
        results += [FreezeResult(**saved[d]) for d in depths if d not in missing]
        return [r for d in depths for r in results if r.depth == d]

    @staticmethod
    def _result(n: int, depth: str, seed: int, pretrained: bool, history, model: nn.Module,
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
        for n, s in tqdm(grid, desc="sizes × seeds", disable=not self.progress):
            results += self.run_one(n, s, depths, pretrained=pretrained)
        return results


def summary_table(results: Sequence[FreezeResult]) -> list[dict]:
    """One row per (images per class, depth, pretrained): mean, standard deviation and number of seeds."""
    groups: dict[tuple, list[float]] = {}
    for r in results:
        groups.setdefault((r.images_per_class, r.depth, r.pretrained), []).append(r.best_acc)
    rows = []
    for (n, depth, pretrained), accs in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][2],
                                                                                DEPTHS.index(kv[0][1]))):
        rows.append({"images_per_class": n, "depth": depth, "pretrained": pretrained,
                     "mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                     "seeds": len(accs)})
    return rows


def conclusion(rows: Sequence[dict]) -> dict[int, tuple[str, bool]]:
    """For each size: the best depth, and whether it beats the runner-up by more than the noise.

    "More than the noise": the difference of the means exceeds twice its standard error
    (from the seeds' standard deviations), roughly a 95 % interval that excludes zero.
    """
    out = {}
    for n in sorted({r["images_per_class"] for r in rows}):
        ranked = sorted((r for r in rows if r["images_per_class"] == n and r["pretrained"]),
                        key=lambda r: r["mean"], reverse=True)
        if not ranked:
            continue
        best = ranked[0]
        if len(ranked) == 1:
            out[n] = (best["depth"], False)
            continue
        second = ranked[1]
        se = (best["std"] ** 2 / best["seeds"] + second["std"] ** 2 / second["seeds"]) ** 0.5
        out[n] = (best["depth"], best["mean"] - second["mean"] > 2 * se)
    return out
