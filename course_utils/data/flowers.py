"""Flower photographs for the capstone: three sources behind one function.

:func:`find_flowers` answers "where are the flowers?" and always returns a folder in the
layout of the lecture notes::

    root/train/<class id>/*.jpg
    root/valid/<class id>/*.jpg
    root/test/<class id>/*.jpg        (optional)
    root/cat_to_name.json             {"1": "pink primrose", ...}

It looks, in this order, for

1. a folder you name (the ``path`` argument or the ``COURSE_FLOWERS_DIR`` environment
   variable): this is how the widely shared 80/10/10 re-split of Flowers-102 arrives;
2. the official Flowers-102, downloaded through torchvision (when ``download=True`` and
   the network is there) and converted once into the layout above;
3. the course's synthetic flowers (:mod:`course_utils.data.synthetic_flowers`), drawn locally
   in seconds: the offline default.

Folder names are class ids written as text, and ``ImageFolder`` sorts them as text
(``'1', '10', '100', '101', '102', '11', ...``): class index 1 is *not* class id ``'2'``.
:class:`FlowerFolder` keeps indices, ids and names together so that no one has to
remember this.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from course_utils.arguments import warn_caller
from course_utils.data.flowers102 import NAMES_FILE, OFFICIAL_DIR_NAME, download_flowers102
from course_utils.data.sources import DOWNLOAD, FOLDER, GENERATED, DataSource, download_or_fall_back
from course_utils.env import FLOWERS_ENV_VAR, RunContext, current_context, shown_path
from course_utils.storage.image_files import IMAGE_SUFFIXES, open_rgb, why_unreadable

SPLITS = ("train", "valid", "test")

__all__ = ["DATA_CHOICES", "SPLITS", "FlowerFolder", "FlowerSource", "check_layout", "choose_flowers", "find_flowers",
           "flower_datasets",
           "flower_loaders", "load_class_names"]


@dataclass(frozen=True)
class FlowerSource(DataSource):
    """Where the flowers came from (a :class:`DataSource`), with the images per split."""

    splits: dict[str, int] = field(default_factory=dict)
    num_classes: int = 0

    def banner(self, details: str = "", *, hint: str = "") -> str:  # noqa: ARG002 - one banner for flowers
        """The data-source banner with the number of classes and images per split."""
        counts = ", ".join(f"{split} {n:,}" for split, n in self.splits.items())
        real = "" if self.is_generated else " These are real photographs."
        return super().banner(
            f"{self.num_classes} classes; images: {counts}.{real}",
            hint=f"Set <code>{FLOWERS_ENV_VAR}</code> to a folder of real photographs, or call "
                 "<code>find_flowers(download=True)</code> once online, for real results.",
        )


def find_flowers(
    path: str | os.PathLike | None = None,
    *,
    download: bool = False,
    synthetic_size: int = 160,
    synthetic_per_class: tuple[int, int, int] = (30, 10, 10),
    progress: bool = True,
    context: RunContext | None = None,
) -> FlowerSource:
    """Find (or make) a flower data set and say which one it is (see :mod:`course_utils.data.sources`).

    ``path`` (or the run context's ``flowers_dir``, from ``COURSE_FLOWERS_DIR``) names a folder
    in the notes' layout. Otherwise a copy of the official Flowers-102 downloaded earlier is
    used; with ``download=True`` it is downloaded now if the network is there (a failure is
    announced with a ``DataSourceWarning``). Otherwise the synthetic flowers are drawn (once,
    then cached): images of ``synthetic_size`` px, ``synthetic_per_class`` images per class in
    train, valid and test.
    """
    context = context or current_context()
    given = path if path is not None else context.flowers_dir
    if given is not None:
        root = Path(given).expanduser()
        check_layout(root)
        origin = "given path" if path is not None else f"${FLOWERS_ENV_VAR}"
        return _describe(root, FOLDER, "your flowers", f"your folder {shown_path(root)} ({origin})")

    official = context.data_dir / OFFICIAL_DIR_NAME
    if not official.is_dir() and download:
        download_or_fall_back(lambda: download_flowers102(official.parent, progress=progress),
                              what="Downloading Flowers-102", instead="the synthetic flowers")
    if official.is_dir():
        return _describe(official, DOWNLOAD, "Flowers-102",
                         "Flowers-102 (official split, downloaded by torchvision): real photographs")

    from course_utils.data.synthetic_flowers import make_synthetic_flowers

    root = make_synthetic_flowers(image_size=synthetic_size, per_class=synthetic_per_class, progress=progress)
    return _describe(root, GENERATED, "synthetic flowers", "synthetic flowers drawn by the course (offline default)")


DATA_CHOICES = ("auto", "download", "synthetic")
"""Where the command line takes its flowers: ``auto`` (a folder, or what is already there),
``download`` (fetch Flowers-102 first), ``synthetic`` (the course's drawn flowers, offline)."""


def choose_flowers(folder: str | os.PathLike | None = None, data: str = "auto", *, context: RunContext,
                   synthetic_size: int = 160, synthetic_per_class: tuple[int, int, int] = (30, 10, 10)) -> FlowerSource:
    """:func:`find_flowers`, or the synthetic flowers when ``data="synthetic"`` (see :data:`DATA_CHOICES`)."""
    if data not in DATA_CHOICES:
        raise ValueError(f"data must be one of {DATA_CHOICES}, got {data!r}.")
    if data != "synthetic":
        return find_flowers(folder, download=data == "download", synthetic_size=synthetic_size,
                            synthetic_per_class=synthetic_per_class, progress=context.bars, context=context)
    if folder is not None:
        raise ValueError("Pass a FOLDER or --data synthetic, not both.")
    from course_utils.data.synthetic_flowers import make_synthetic_flowers

    root = make_synthetic_flowers(context.data_dir, image_size=synthetic_size, per_class=synthetic_per_class,
                                  progress=context.bars)
    return _describe(root, GENERATED, "synthetic flowers", "synthetic flowers drawn by the course")


def _describe(root: Path, kind: str, name: str, description: str) -> FlowerSource:
    splits = {
        split: sum(1 for f in (root / split).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        for split in SPLITS
        if (root / split).is_dir()
    }
    names = load_class_names(root)
    return FlowerSource(kind=kind, name=name, description=description, root=root, splits=splits,
                        num_classes=len(names))


def check_layout(root: Path) -> None:
    """Raise a clear error unless ``root`` has ``train/``, ``valid/`` and a matching name file."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"No folder at {root}. Point {FLOWERS_ENV_VAR} (or the path argument) at a folder "
            "that holds train/, valid/ and cat_to_name.json, or unset it to use the default."
        )
    for split in ("train", "valid"):
        if not (root / split).is_dir():
            raise FileNotFoundError(
                f"{root} has no {split}/ folder. Expected the layout train/<class id>/*.jpg, "
                f"valid/<class id>/*.jpg and {NAMES_FILE}."
            )
    names = load_class_names(root)
    folders = {p.name for p in (root / "train").iterdir() if p.is_dir()}
    unnamed = sorted(folders - set(names), key=_id_order)
    if unnamed:
        raise ValueError(
            f"{root / NAMES_FILE} has no name for the class folder(s) {unnamed[:5]} of train/. "
            "Add them to the file (class id -> name)."
        )


def load_class_names(root: Path) -> dict[str, str]:
    """The ``cat_to_name.json`` of a data set folder: class id (folder name) -> class name."""
    file = Path(root) / NAMES_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"{file} is missing. Every flower folder needs a {NAMES_FILE} that maps each class "
            'folder name to a class name, e.g. {"1": "pink primrose"}.'
        )
    try:
        names = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{file} is not valid JSON ({error}). It must hold one JSON object that maps each class "
            'folder name to a class name, e.g. {"1": "pink primrose", "2": "hard-leaved pocket orchid"}.'
        ) from error
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise ValueError(f"{file} must hold one JSON object mapping class ids to names.")
    return {str(k): v for k, v in names.items()}


def _id_order(class_id: str) -> tuple[int, int | str]:
    return (0, int(class_id)) if class_id.isdigit() else (1, class_id)


class FlowerFolder(ImageFolder):
    """``ImageFolder`` for one split, with class names and a class list shared by all splits.

    ``ImageFolder`` numbers the class folders it finds in text order. If one split lacks
    a class (a small validation set often does), its numbering would silently differ
    from the training set's. Pass ``classes=train_set.classes`` to every other split and
    the numbering stays the training set's. ``class_names[i]`` is the name of class index
    ``i``. ``max_per_class`` keeps only the first images of each class (quick runs).

    Real folders hold more than photographs. Files that are not images (``.DS_Store``,
    ``Thumbs.db``, notes) and images that cannot be read (cut off, empty) are skipped, and one
    warning counts and names them; every image is read as 8-bit RGB whatever its mode
    (:func:`course_utils.storage.image_files.open_rgb`). A training class left without images is an
    error, since the model could not learn it.
    """

    samples: list[tuple[str, int]]
    imgs: list[tuple[str, int]]
    targets: list[int]

    def __init__(
        self,
        split_dir: str | os.PathLike,
        transform: Callable | None = None,
        *,
        classes: list[str] | None = None,
        names: dict[str, str] | None = None,
        max_per_class: int | None = None,
    ) -> None:
        split_dir = Path(split_dir)
        self._fixed_classes = list(classes) if classes is not None else None
        self.skipped: list[tuple[str, str]] = []
        """``(path, reason)`` of every file of a class folder that is not used."""
        super().__init__(str(split_dir), transform=transform, loader=open_rgb,
                         is_valid_file=self._is_usable_image, allow_empty=True)
        names = names if names is not None else load_class_names(split_dir.parent)
        missing = [c for c in self.classes if c not in names]
        if missing:
            raise ValueError(f"No class name for folder(s) {missing[:5]} in {split_dir.parent / NAMES_FILE}.")
        self.class_names: list[str] = [names[c] for c in self.classes]
        if self.skipped:
            warn_caller(_skipped_message(split_dir, self.skipped, len(self.samples)))
        if classes is None:  # the training split: every class needs at least one image
            empty = sorted(set(self.classes) - {self.classes[t] for t in self.targets}, key=_id_order)
            if empty:
                raise ValueError(
                    f"{split_dir} has class folder(s) with no usable image: "
                    + ", ".join(f"{c}/ ({names[c]!r})" for c in empty[:5])
                    + ". Add images to them, or delete the folders (and their entries in "
                    f"{NAMES_FILE})."
                )
        if max_per_class is not None:
            kept: list[tuple[str, int]] = []
            seen: dict[int, int] = {}
            for path, target in self.samples:
                if seen.get(target, 0) < max_per_class:
                    kept.append((path, target))
                    seen[target] = seen.get(target, 0) + 1
            self.samples = self.imgs = kept
            self.targets = [t for _, t in kept]

    def _is_usable_image(self, path: str) -> bool:
        """ImageFolder's file filter: keep readable images, note everything else in ``skipped``."""
        if not path.lower().endswith(IMAGE_SUFFIXES):
            self.skipped.append((path, "not an image file"))
            return False
        reason = why_unreadable(path)
        if reason is not None:
            self.skipped.append((path, reason))
            return False
        return True

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        """The class list: the one given (from the training split), else the folders here."""
        if self._fixed_classes is None:
            return super().find_classes(directory)
        present = {e.name for e in os.scandir(directory) if e.is_dir()}
        unknown = sorted(present - set(self._fixed_classes))
        if unknown:
            raise ValueError(
                f"{directory} has class folder(s) {unknown[:5]} that the training split does not have."
            )
        return self._fixed_classes, {c: i for i, c in enumerate(self._fixed_classes)}


def _skipped_message(split_dir: Path, skipped: list[tuple[str, str]], kept: int) -> str:
    """One warning for all the files a split skips: how many, which, and why."""
    others = [(p, r) for p, r in skipped if r == "not an image file"]
    broken = [(p, r) for p, r in skipped if r != "not an image file"]
    parts = []
    if broken:
        listed = "; ".join(f"{os.path.relpath(p, split_dir)} ({r})" for p, r in broken[:5])
        parts.append(f"{len(broken)} cannot be read as images: {listed}" + ("; ..." if len(broken) > 5 else ""))
    if others:
        listed = ", ".join(os.path.relpath(p, split_dir) for p, _ in others[:5])
        parts.append(f"{len(others)} are not images: {listed}" + (", ..." if len(others) > 5 else ""))
    return (
        f"Skipped {len(skipped)} file(s) in {split_dir} (kept {kept} images). "
        + ". ".join(parts) + ". Delete or replace them to silence this warning."
    )


def flower_datasets(
    root: str | os.PathLike | FlowerSource,
    train_transform: Callable | None = None,
    eval_transform: Callable | None = None,
    *,
    max_per_class: int | Mapping[str, int | None] | None = None,
) -> dict[str, FlowerFolder]:
    """One :class:`FlowerFolder` per split present (train, valid, test), numbered alike.

    The training split gets ``train_transform``; valid and test get ``eval_transform``.
    ``max_per_class`` (one number, or one per split) keeps runs small.
    """
    folder = Path(root.root if isinstance(root, FlowerSource) and root.root is not None else root)  # type: ignore[arg-type]
    check_layout(folder)
    names = load_class_names(folder)
    limits = dict(max_per_class) if isinstance(max_per_class, Mapping) else dict.fromkeys(SPLITS, max_per_class)
    train = FlowerFolder(folder / "train", train_transform, names=names, max_per_class=limits.get("train"))
    sets = {"train": train}
    for split in ("valid", "test"):
        if (folder / split).is_dir():
            sets[split] = FlowerFolder(
                folder / split, eval_transform, classes=train.classes, names=names, max_per_class=limits.get(split)
            )
    return sets


def flower_loaders(
    datasets: dict[str, FlowerFolder],
    *,
    batch_size: int = 32,
    seed: int = 0,
    context: RunContext | None = None,
) -> dict[str, DataLoader]:
    """DataLoaders for the splits: the training one shuffles (reproducibly, from ``seed``).

    Workers and pinned memory come from the run context (:meth:`RunContext.loader_kwargs`).
    Worker processes are started afresh every epoch: each epoch's workers then take their
    random seeds from the loader's generator, which :func:`course_utils.training.loop.fit`
    reseeds at the start of every epoch, so the random augmentation of epoch k is the same
    whether or not the run was resumed before it.
    """
    import torch

    kwargs = (context or current_context()).loader_kwargs()
    return {
        split: DataLoader(dataset, batch_size=batch_size, shuffle=split == "train",
                          generator=torch.Generator().manual_seed(seed), **kwargs)
        for split, dataset in datasets.items()
    }
