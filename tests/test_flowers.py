"""The flower data: three sources, one layout, and class ids, indices and names that agree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from course_utils.data import flowers102, synthetic_flowers
from course_utils.data.flowers import (
    FlowerFolder,
    check_layout,
    find_flowers,
    flower_datasets,
    flower_loaders,
)
from course_utils.data.flowers102 import flowers102_names
from course_utils.data.sources import DataSourceWarning
from course_utils.data.synthetic_flowers import make_synthetic_flowers, species_names
from course_utils.env import FLOWERS_ENV_VAR, run_context
from course_utils.storage.folders import PARTIAL_MARKER

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "flowers102-small"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"the real Flowers-102 subset is not at {REAL}")

TINY = {"image_size": 48, "per_class": (2, 1, 1)}


@pytest.fixture
def no_flowers_env(monkeypatch, tmp_path):
    """No COURSE_FLOWERS_DIR, a private data folder, and no network."""
    monkeypatch.delenv(FLOWERS_ENV_VAR, raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    return tmp_path / "data"


# --- the real names -----------------------------------------------------------------------


def test_the_package_ships_the_102_real_names():
    names = flowers102_names()
    assert sorted(names, key=int) == [str(i) for i in range(1, 103)]
    assert names["1"] == "pink primrose" and names["3"] == "canterbury bells"


@needs_real
def test_text_sorted_folders_still_get_their_own_names_on_the_real_subset():
    sets = flower_datasets(REAL)
    train, valid = sets["train"], sets["valid"]
    assert train.classes[:4] == ["1", "10", "100", "101"]  # text order, not numeric
    names = json.loads((REAL / "cat_to_name.json").read_text())
    assert train.class_names == [names[c] for c in train.classes]
    assert train.class_names[1] == "globe thistle" == names["10"]
    assert valid.class_to_idx == train.class_to_idx
    for path, target in valid.samples[::50]:  # the folder an image sits in names its class
        assert valid.class_names[target] == names[Path(path).parent.name]
    assert names == flowers102_names()  # the shipped names are the real subset's names


# --- one numbering for every split --------------------------------------------------------


def test_a_split_missing_a_class_keeps_the_training_numbering(tmp_path, flower_folder):
    names = {"1": "one", "2": "two", "10": "ten"}
    root = flower_folder(tmp_path / "f", {"train": ["1", "2", "10"], "valid": ["2", "10"]}, names=names)
    sets = flower_datasets(root)
    train, valid = sets["train"], sets["valid"]
    assert train.classes == ["1", "10", "2"]
    assert [valid.class_names[t] for t in valid.targets] == ["ten", "ten", "two", "two"]
    assert sorted(set(valid.targets)) == [train.class_to_idx["10"], train.class_to_idx["2"]]
    # What goes wrong without it: plain ImageFolder numbers valid/ on its own.
    assert ImageFolder(str(root / "valid")).class_to_idx["2"] != train.class_to_idx["2"]


def test_a_split_with_an_unknown_class_is_refused(tmp_path, flower_folder):
    root = flower_folder(tmp_path / "f", {"train": ["1", "2"], "valid": ["1", "3"]}, names={"1": "a", "2": "b", "3": "c"})
    with pytest.raises(ValueError, match="training split does not have"):
        flower_datasets(root)


def test_bad_folders_get_errors_that_say_what_to_do(tmp_path, flower_folder):
    with pytest.raises(FileNotFoundError, match="No folder"):
        check_layout(tmp_path / "nowhere")
    root = flower_folder(tmp_path / "f", {"train": ["1", "2"]}, names={"1": "a", "2": "b"})
    with pytest.raises(FileNotFoundError, match="valid/"):
        check_layout(root)
    root = flower_folder(tmp_path / "g", {"train": ["1", "2"], "valid": ["1"]}, names={"1": "a"})
    with pytest.raises(ValueError, match=r"no name for the class folder\(s\) \['2'\]"):
        check_layout(root)
    (root / "cat_to_name.json").unlink()
    with pytest.raises(FileNotFoundError, match="cat_to_name.json"):
        check_layout(root)


def test_max_per_class_keeps_the_first_images_of_every_class(tmp_path, flower_folder):
    root = flower_folder(tmp_path / "f", {"train": ["1", "2", "3"], "valid": ["1"]}, names={"1": "a", "2": "b", "3": "c"})
    small = FlowerFolder(root / "train", max_per_class=1)
    assert len(small) == 3 and sorted(small.targets) == [0, 1, 2]


def test_loaders_are_reproducible_and_cross_processes(tmp_path, flower_folder):
    root = flower_folder(tmp_path / "f", {"train": ["1", "2", "3"], "valid": ["1"]}, names={"1": "a", "2": "b", "3": "c"})
    sets = flower_datasets(root, train_transform=np.array, eval_transform=np.array)

    def first_epoch(workers):
        loader = flower_loaders(sets, batch_size=2, seed=3, context=run_context(device="cpu", num_workers=workers))["train"]
        return [t for _, targets in loader for t in targets.tolist()]

    assert first_epoch(0) == first_epoch(0)
    assert first_epoch(1) == first_epoch(0)  # the data set pickles into a worker process


# --- source 1: a folder you name ----------------------------------------------------------


def test_the_environment_variable_names_the_folder(monkeypatch, tmp_path, flower_folder):
    root = flower_folder(tmp_path / "mine", {"train": ["1", "2"], "valid": ["1", "2"]}, names={"1": "a", "2": "b"})
    monkeypatch.setenv(FLOWERS_ENV_VAR, str(root))
    monkeypatch.chdir(tmp_path)  # a notebook's folder: the banner names the data relative to it, not absolutely
    source = find_flowers()
    assert (source.kind, source.root, source.num_classes) == ("folder", root, 2)
    assert source.splits == {"train": 4, "valid": 4}
    assert "real photographs" in source.banner()
    assert str(root) not in source.banner() and "your folder mine" in source.banner()
    monkeypatch.setenv(FLOWERS_ENV_VAR, str(tmp_path / "typo"))
    with pytest.raises(FileNotFoundError, match=FLOWERS_ENV_VAR):
        find_flowers(context=run_context())  # a new run reads the environment again


# --- source 3: the synthetic default ------------------------------------------------------


def test_the_default_offline_is_the_synthetic_set_with_a_warning_banner(no_flowers_env):
    with pytest.warns(DataSourceWarning, match=r"(?s)network is not reachable.*using the synthetic flowers instead"):
        source = find_flowers(download=True, synthetic_size=32, synthetic_per_class=(2, 1, 1), progress=False)
    assert source.kind == "generated" and source.is_generated
    assert source.root.parent == no_flowers_env
    assert source.num_classes == len(species_names()) >= 10
    assert "not real-data numbers" in source.banner() and "COURSE_FLOWERS_DIR" in source.banner()


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for file in sorted(root.rglob("*")):
        if file.is_file():
            h.update(str(file.relative_to(root)).encode() + file.read_bytes())
    return h.hexdigest()


def test_the_synthetic_set_is_deterministic_and_in_the_notes_layout(tmp_path):
    a = make_synthetic_flowers(tmp_path / "a", progress=False, **TINY)
    b = make_synthetic_flowers(tmp_path / "b", progress=False, **TINY)
    assert _digest(a) == _digest(b)
    check_layout(a)
    names = json.loads((a / "cat_to_name.json").read_text())
    assert [names[str(i)] for i in range(1, len(names) + 1)] == species_names()
    sets = flower_datasets(a)
    assert [len(sets[s]) for s in ("train", "valid", "test")] == [2 * len(names), len(names), len(names)]
    assert sets["train"].classes[:3] == ["1", "10", "11"]  # ids 10+ exercise the text sort
    assert sets["train"].class_names[1] == species_names()[9]
    with Image.open(next((a / "train" / "1").iterdir())) as image:
        assert image.size == (48, 48) and image.mode == "RGB"


def test_the_synthetic_classes_differ_in_colour(tmp_path):
    """Mean colour alone already separates many species: the classes are not noise."""
    root = make_synthetic_flowers(tmp_path, progress=False, image_size=48, per_class=(3, 1, 1))
    means = {}
    for folder in (root / "train").iterdir():
        pixels = [np.asarray(Image.open(f), dtype=float)[12:36, 12:36].mean((0, 1)) for f in folder.iterdir()]
        means[folder.name] = np.mean(pixels, axis=0)
    red, blue = means["5"], means["3"]  # red poppy, blue star
    assert red[0] > red[2] + 30 and blue[2] > blue[0] + 30


def test_the_synthetic_set_is_reused_once_complete(tmp_path):
    root = make_synthetic_flowers(tmp_path, progress=False, **TINY)
    stamp = (root / "cat_to_name.json").stat().st_mtime_ns
    assert make_synthetic_flowers(tmp_path, progress=False, **TINY) == root
    assert (root / "cat_to_name.json").stat().st_mtime_ns == stamp


def test_an_interrupted_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_draw = synthetic_flowers.draw_flower

    def failing_draw(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(synthetic_flowers, "draw_flower", failing_draw)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_flowers(tmp_path, progress=False, **TINY)
    assert list(tmp_path.iterdir()) == []


# --- source 2: the official download, converted -------------------------------------------


def fake_official_download(root: Path) -> None:
    """What torchvision's Flowers102(download=True) leaves on disk: 6 images, 3 classes."""
    from scipy.io import savemat

    base = root / "flowers-102"
    (base / "jpg").mkdir(parents=True)
    for image_id in range(1, 7):
        Image.new("RGB", (10, 10), (image_id * 40, 0, 0)).save(base / "jpg" / f"image_{image_id:05d}.jpg")
    savemat(base / "imagelabels.mat", {"labels": np.array([[1, 2, 102, 1, 2, 102]], dtype=np.uint8)})
    savemat(base / "setid.mat", {"trnid": np.array([[1, 2, 3]]), "valid": np.array([[4, 5]]), "tstid": np.array([[6]])})


def test_the_download_is_converted_into_the_notes_layout(no_flowers_env, monkeypatch):
    monkeypatch.setattr(flowers102, "is_online", lambda: True)
    monkeypatch.setattr(flowers102, "_torchvision_download", fake_official_download)
    final = flowers102.download_flowers102(progress=False)
    assert final == no_flowers_env / "flowers102"
    assert sorted(p.relative_to(final).as_posix() for p in final.rglob("*.jpg")) == [
        "test/102/image_00006.jpg", "train/1/image_00001.jpg", "train/102/image_00003.jpg",
        "train/2/image_00002.jpg", "valid/1/image_00004.jpg", "valid/2/image_00005.jpg",
    ]
    assert json.loads((final / "cat_to_name.json").read_text()) == flowers102_names()
    assert [p.name for p in no_flowers_env.iterdir()] == ["flowers102"]  # no leftovers
    source = find_flowers()  # a finished download is found again, offline
    assert source.kind == "download" and source.splits == {"train": 3, "valid": 2, "test": 1}
    sets = flower_datasets(source)
    assert sets["train"].classes == ["1", "102", "2"]
    assert sets["train"].class_names == ["pink primrose", "blackberry lily", "hard-leaved pocket orchid"]


def test_a_failed_download_leaves_nothing_that_looks_like_data(no_flowers_env, monkeypatch):
    def broken(root):
        fake_official_download(root)
        raise RuntimeError("File not found or corrupted.")  # what a bad checksum raises

    monkeypatch.setattr(flowers102, "is_online", lambda: True)
    monkeypatch.setattr(flowers102, "_torchvision_download", broken)
    with pytest.raises(RuntimeError, match="corrupted"):
        flowers102.download_flowers102(progress=False)
    assert list(no_flowers_env.iterdir()) == []
    # A leftover of a killed process is ignored, then cleaned up by the next attempt.
    stale = no_flowers_env / f"flowers102{PARTIAL_MARKER}killed"
    (stale / "train" / "1").mkdir(parents=True)
    assert find_flowers(synthetic_size=32, synthetic_per_class=(1, 1, 1), progress=False).kind == "generated"
    with pytest.raises(RuntimeError):
        flowers102.download_flowers102(progress=False)
    assert not stale.exists()


def test_a_download_without_network_says_what_to_do(no_flowers_env, monkeypatch):
    def lost_connection(root):
        raise ConnectionResetError("connection reset by peer")

    with pytest.raises(RuntimeError, match="network is not reachable"):
        flowers102.download_flowers102(progress=False)  # COURSE_OFFLINE=1: not even tried
    monkeypatch.setattr(flowers102, "is_online", lambda: True)
    monkeypatch.setattr(flowers102, "_torchvision_download", lost_connection)
    with pytest.raises(RuntimeError, match=r"failed \(connection reset by peer\); nothing was kept"):
        flowers102.download_flowers102(progress=False)
    assert list(no_flowers_env.iterdir()) == []


# --- transforms and the augmentation explorer ---------------------------------------------


def test_the_transforms_follow_the_notes_and_can_be_undone():
    import torch

    from course_utils.data.transforms import (
        IMAGENET_MEAN,
        TransformSettings,
        augmentation_steps,
        denormalize,
        eval_transform,
        train_transform,
    )

    settings = TransformSettings()
    assert settings.resize == 256 and TransformSettings(image_size=112).resize == 128
    assert list(augmentation_steps(settings)) == [
        "resize", "random rotation", "centre crop", "horizontal flip", "vertical flip",
        "colour jitter", "random grayscale",
    ]
    assert TransformSettings.from_dict(settings.to_dict()) == settings
    photo = Image.new("RGB", (300, 200), (200, 100, 50))
    torch.manual_seed(0)
    assert train_transform(TransformSettings(image_size=64))(photo).shape == (3, 64, 64)
    tensor = eval_transform(settings)(photo)
    assert tensor.shape == (3, 224, 224)
    assert torch.allclose(denormalize(tensor)[:, 100, 100], torch.tensor([200, 100, 50]) / 255, atol=1e-6)
    assert torch.allclose(denormalize(torch.zeros(2, 3, 4, 4))[0, :, 0, 0], torch.tensor(IMAGENET_MEAN))


def test_the_augmentation_gallery_and_its_explorer(capsys):
    import ipywidgets as widgets
    import matplotlib

    matplotlib.use("Agg")
    from course_utils.data.transforms import TransformSettings, augmentation_gallery
    from course_utils.lessons.explorers import augmentation_explorer

    photo = Image.new("RGB", (90, 60), (200, 30, 30))
    photo.paste((30, 30, 200), (0, 0, 45, 60))  # left half blue, right half red
    gallery = augmentation_gallery(photo, TransformSettings(image_size=48), seed=1)
    assert len(gallery) == 7 and all(p.size == (48, 48) for p in gallery.values())
    original, flipped = (np.asarray(gallery[k]) for k in ("original (48 px)", "horizontal flip (p=0.5)"))
    assert original[24, 2, 2] > 150 and flipped[24, 2, 0] > 150  # blue moved from left to right
    grey = np.asarray(gallery["grayscale (p=0.025)"]).astype(int)
    assert (grey[..., 0] == grey[..., 2]).all()
    assert augmentation_gallery(photo, TransformSettings(image_size=48), seed=1).keys() == gallery.keys()

    explorer = augmentation_explorer([photo, photo], TransformSettings(image_size=48))
    controls = {c.description: c for c in explorer.children[0].children}
    assert set(controls) == {"photo", "random draw"} and controls["photo"].max == 1
    controls["random draw"].value = 3  # redraws without error
    assert isinstance(explorer.children[1], widgets.Output)
    with pytest.raises(ValueError, match="at least one photo"):
        augmentation_explorer([])
