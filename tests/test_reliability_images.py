"""A learner's own image folder, with everything real folders contain, through the course's
real loaders (``flower_datasets`` -> ``flower_loaders`` -> the notes' transforms).

Every awkward file is written here by Pillow: a truncated JPEG, a zero-byte file, files that
are not images at all, grayscale, RGBA, palette and 16-bit PNGs, a CMYK JPEG, an image
smaller than the crop, in a folder whose path has spaces and non-ASCII characters. Each case
is either handled (converted, or skipped with a warning that counts what was skipped) or
refused with an error that says what to do; docs/guarantees.md lists which.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils.analysis.predictions import predict_image
from course_utils.data.flowers import FlowerFolder, find_flowers, flower_datasets, flower_loaders
from course_utils.data.transforms import TransformSettings, eval_transform, train_transform

SETTINGS = TransformSettings(image_size=32)
NAMES = {"1": "pink primrose", "2": "globe thistle", "3": "sweet pea"}
COLOURS = {"1": (220, 40, 60), "2": (60, 60, 200), "3": (240, 220, 40)}


def photo(colour: tuple[int, int, int], size: tuple[int, int] = (48, 40), seed: int = 0) -> Image.Image:
    """A small RGB 'photograph': a coloured disc on a noisy green background."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 80, (size[1], size[0], 3), dtype=np.uint8)
    pixels[..., 1] += 60
    yy, xx = np.mgrid[: size[1], : size[0]]
    disc = (yy - size[1] / 2) ** 2 + (xx - size[0] / 2) ** 2 < (min(size) / 3) ** 2
    pixels[disc] = colour
    return Image.fromarray(pixels)


def jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# The awkward files, by what they are. Values: (class folder, file name, how to write it).
CONVERTED = {
    "grayscale PNG": ("1", "gray.png", lambda p: photo(COLOURS["1"]).convert("L").save(p)),
    "RGBA PNG": ("1", "with alpha.png", lambda p: photo(COLOURS["1"]).convert("RGBA").save(p)),
    "palette PNG": ("2", "palette.png", lambda p: photo(COLOURS["2"]).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=32).save(p)),
    "CMYK JPEG": ("2", "print.jpg", lambda p: photo(COLOURS["2"]).convert("CMYK").save(p, quality=90)),
    "16-bit PNG": ("3", "scan16.png", lambda p: Image.fromarray(
        np.asarray(photo(COLOURS["3"]).convert("L"), dtype=np.uint16) * 257).save(p)),
    "smaller than the crop": ("3", "tiny.jpg", lambda p: photo(COLOURS["3"], size=(9, 7)).save(p)),
    "non-ASCII name with spaces": ("3", "fleur d’été ✿ 1.jpg", lambda p: photo(COLOURS["3"]).save(p)),
}
UNREADABLE = {
    "truncated JPEG": ("1", "cut off.jpg", lambda p: p.write_bytes(jpeg_bytes(photo(COLOURS["1"]))[:600])),
    "zero-byte file": ("2", "empty.jpg", lambda p: p.write_bytes(b"")),
    "text named .jpg": ("3", "not-a-photo.jpg", lambda p: p.write_text("<html>404 Not Found</html>")),
}
NOT_IMAGES = {
    ".DS_Store": ("1", ".DS_Store", lambda p: p.write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))),
    "Thumbs.db": ("2", "Thumbs.db", lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))),
    "a .txt file": ("3", "notes.txt", lambda p: p.write_text("photographed in May")),
}
GOOD_PER_CLASS = 3


def write_folder(root: Path, cases: dict) -> Path:
    """Three classes with three good photos each in train/ (and two in valid/), plus ``cases``."""
    for split, count in (("train", GOOD_PER_CLASS), ("valid", 2)):
        for class_id, colour in COLOURS.items():
            folder = root / split / class_id
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                photo(colour, seed=i).save(folder / f"image_{i:02d}.jpg")
    for class_id, name, write in cases.values():
        write(root / "train" / class_id / name)
    (root / "cat_to_name.json").write_text(json.dumps(NAMES, ensure_ascii=False), encoding="utf-8")
    return root


@pytest.fixture
def awkward_root(tmp_path) -> Path:
    """Every case at once, under a path with spaces and non-ASCII characters."""
    return write_folder(tmp_path / "my photos" / "flores de mi jardín ✿", {**CONVERTED, **UNREADABLE, **NOT_IMAGES})


def build(root: Path) -> tuple[dict[str, FlowerFolder], list[str]]:
    """The course's datasets for ``root``; returns them and the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sets = flower_datasets(root, train_transform(SETTINGS), eval_transform(SETTINGS))
    return sets, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


# --------------------------------------------------------------------------------------
# Handled: converted, or skipped with a counted warning; training still runs end to end
# --------------------------------------------------------------------------------------


def test_every_awkward_file_is_converted_or_skipped_and_a_whole_epoch_loads(awkward_root):
    sets, messages = build(awkward_root)
    train = sets["train"]
    loadable = 3 * GOOD_PER_CLASS + len(CONVERTED)
    assert len(train) == loadable

    # One warning says how many files were skipped, and names the unreadable ones.
    skipped = [m for m in messages if "skipped" in m.lower()]
    assert len(skipped) == 1, messages
    warning = skipped[0]
    assert re.search(rf"\b{len(UNREADABLE) + len(NOT_IMAGES)}\b", warning), warning
    for _, name, _ in UNREADABLE.values():
        assert name in warning, (name, warning)
    assert str(awkward_root / "train") in warning or "train" in warning

    # A whole epoch through the real loader: every batch is RGB, the right size, finite.
    loaders = flower_loaders(sets, batch_size=8, seed=0)
    seen = 0
    for images, labels in loaders["train"]:
        assert images.shape[1:] == (3, SETTINGS.image_size, SETTINGS.image_size)
        assert torch.isfinite(images).all()
        seen += len(labels)
    assert seen == loadable
    for images, _ in loaders["valid"]:
        assert images.shape[1:] == (3, SETTINGS.image_size, SETTINGS.image_size)


@pytest.mark.parametrize("case", list(CONVERTED))
def test_each_image_kind_becomes_the_rgb_picture_it_shows(tmp_path, case):
    """Converted means the picture survives: the centre of each image keeps its class colour
    (as grey for the grayscale ones), it is not saturated to white or black."""
    class_id, name, _ = CONVERTED[case]
    root = write_folder(tmp_path / "one case", {case: CONVERTED[case]})
    dataset = FlowerFolder(root / "train", transform=None)
    index = [Path(p).name for p, _ in dataset.samples].index(name)
    image, target = dataset[index]
    assert dataset.classes[target] == class_id
    assert image.mode == "RGB"
    centre = np.asarray(image, dtype=float)[image.height // 2, image.width // 2]
    expected = np.asarray(COLOURS[class_id], dtype=float)
    if case in ("grayscale PNG", "16-bit PNG"):
        expected = np.full(3, np.asarray(Image.new("RGB", (1, 1), COLOURS[class_id]).convert("L"))[0, 0])
    assert np.abs(centre - expected).max() < 40, (case, centre, expected)
    tensor = eval_transform(SETTINGS)(image)
    assert tensor.shape == (3, SETTINGS.image_size, SETTINGS.image_size)


def test_non_image_files_alone_are_skipped_and_counted(tmp_path):
    root = write_folder(tmp_path / "mac folder", NOT_IMAGES)
    sets, messages = build(root)
    assert len(sets["train"]) == 3 * GOOD_PER_CLASS
    skipped = [m for m in messages if "skipped" in m.lower()]
    assert len(skipped) == 1 and re.search(rf"\b{len(NOT_IMAGES)}\b", skipped[0]), messages


def test_a_clean_folder_gives_no_warning(tmp_path):
    _, messages = build(write_folder(tmp_path / "clean", {}))
    assert not [m for m in messages if "skipped" in m.lower()], messages


def test_predicting_one_awkward_photo_works_or_says_what_is_wrong(tmp_path, context):
    model = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 3))
    names = list(NAMES.values())
    for case, (_, name, write) in CONVERTED.items():
        path = tmp_path / name
        write(path)
        top = predict_image(model, path, names, SETTINGS, k=2, context=context)
        assert len(top) == 2, case
    for case, (_, name, write) in UNREADABLE.items():
        path = tmp_path / name
        write(path)
        with pytest.raises((OSError, ValueError)) as refused:
            predict_image(model, path, names, SETTINGS, k=2, context=context)
        assert name in str(refused.value), (case, str(refused.value))


# --------------------------------------------------------------------------------------
# Refused, with an error that says what to do
# --------------------------------------------------------------------------------------


def test_an_empty_class_folder_in_train_is_refused_by_name(tmp_path):
    root = write_folder(tmp_path / "flowers", {})
    (root / "train" / "4").mkdir()
    names = {**NAMES, "4": "english marigold"}
    (root / "cat_to_name.json").write_text(json.dumps(names))
    with pytest.raises((ValueError, FileNotFoundError)) as refused:
        build(root)
    message = str(refused.value)
    assert "4" in message and "train" in message
    assert re.search(r"add|remove|delete", message, re.IGNORECASE), message


def test_a_class_missing_from_valid_is_fine(tmp_path):
    root = write_folder(tmp_path / "flowers", {})
    for image in (root / "valid" / "2").iterdir():
        image.unlink()
    sets, _ = build(root)
    assert sets["valid"].classes == sets["train"].classes
    assert len(sets["valid"]) == 4


def test_a_class_missing_from_cat_to_name_is_refused_by_name(tmp_path):
    root = write_folder(tmp_path / "flowers", {})
    (root / "cat_to_name.json").write_text(json.dumps({"1": "pink primrose", "3": "sweet pea"}))
    with pytest.raises(ValueError, match=r"cat_to_name\.json.*'2'.*Add") as refused:
        build(root)
    assert str(root) in str(refused.value)


@pytest.mark.parametrize("broken", ["no such folder", "no train folder", "a file, not a folder"])
def test_a_root_that_is_not_a_data_set_is_refused_with_the_expected_layout(tmp_path, broken):
    root = tmp_path / "downloads" / "flowers"
    if broken == "no train folder":
        write_folder(root, {})
        (root / "train").rename(root / "training")
    elif broken == "a file, not a folder":
        root.parent.mkdir(parents=True)
        root.write_text("not a folder")
    for load in (lambda: find_flowers(root, progress=False), lambda: flower_datasets(root)):
        with pytest.raises((FileNotFoundError, NotADirectoryError, ValueError)) as refused:
            load()
        message = str(refused.value)
        assert str(root) in message, message
        assert "train/" in message and "cat_to_name.json" in message, message


def test_a_missing_or_broken_cat_to_name_is_refused(tmp_path):
    root = write_folder(tmp_path / "flowers", {})
    (root / "cat_to_name.json").write_text('{"1": "pink primrose", ')  # cut off
    with pytest.raises(ValueError, match=r"cat_to_name\.json") as refused:
        build(root)
    assert "JSON" in str(refused.value)
    (root / "cat_to_name.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"cat_to_name\.json.*missing"):
        build(root)


def test_the_resized_copy_keeps_the_same_behaviour(awkward_root, tmp_path):
    """The pre-resized copy (a faster data path) must not crash on awkward files either, and the
    data set made from it must skip and convert exactly like the original folder."""
    from benchmarks.resized_cache import resized_copy

    copy = resized_copy(awkward_root, 24, cache_dir=tmp_path / "cache", progress=False)
    sets, messages = build(copy)
    assert len(sets["train"]) == 3 * GOOD_PER_CLASS + len(CONVERTED)
    skipped = [m for m in messages if "skipped" in m.lower()]
    assert len(skipped) == 1, messages
    for images, _ in flower_loaders(sets, batch_size=32)["train"]:
        assert images.shape[1:] == (3, SETTINGS.image_size, SETTINGS.image_size)
    sixteen = [i for i, (p, _) in enumerate(sets["train"].samples) if Path(p).stem == "scan16"]
    assert len(sixteen) == 1
    with pytest.warns(UserWarning, match="Skipped 6 file"):  # the copy keeps the unreadable files
        image = FlowerFolder(copy / "train")[sixteen[0]][0]
    assert np.asarray(image).mean() < 250  # not saturated to white
