"""The official Flowers-102, downloaded through torchvision and converted to the notes' layout.

torchvision's ``Flowers102`` downloads the archive and two label files (``.mat``, read with
SciPy) and checks their MD5 checksums. :func:`download_flowers102` then sorts the images into
``train/``, ``valid/`` and ``test/`` by the official split, in class folders ``"1"`` …
``"102"``, next to a ``cat_to_name.json`` with the real names, which ship with this package
(:func:`flowers102_names`) so they are there offline too.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from course_utils.env import FLOWERS_ENV_VAR, data_dir, is_online, stall_timeout
from course_utils.storage.folders import atomic_directory, remove_partial_folders

__all__ = ["NAMES_FILE", "OFFICIAL_DIR_NAME", "download_flowers102", "flowers102_names"]

NAMES_FILE = "cat_to_name.json"
"""The file that maps class folder names to class names (the notes' ``cat_to_name.json``)."""
OFFICIAL_DIR_NAME = "flowers102"
OFFICIAL_SPLITS = {"train": "trnid", "valid": "valid", "test": "tstid"}  # setid.mat's keys
OFFICIAL_SIZE_MB = 330


def flowers102_names() -> dict[str, str]:
    """The 102 real class names of Flowers-102, by class id ``"1"`` … ``"102"``."""
    return json.loads((Path(__file__).with_name("flowers102_names.json")).read_text())


def download_flowers102(parent: Path | None = None, *, progress: bool = True) -> Path:
    """Download the official Flowers-102 (about 330 MB) and convert it to the notes' layout.

    torchvision downloads the archive and the two label files with a progress bar and
    checks their MD5 checksums. The images are then sorted into ``train/``, ``valid/``
    and ``test/`` by the official split (1,020 / 1,020 / 6,149 images), in class folders
    ``"1"`` … ``"102"`` (the ids of the original labels), next to a ``cat_to_name.json``
    with the real names. Everything happens in a temporary folder that is renamed to
    ``parent/flowers102`` only at the end: a failed or interrupted download leaves no
    folder that could be mistaken for the data set. Returns the final folder.
    """
    final = Path(parent if parent is not None else data_dir()) / OFFICIAL_DIR_NAME
    if final.is_dir():
        return final
    remove_partial_folders(final)
    if not is_online():
        raise RuntimeError(
            "Flowers-102 cannot be downloaded: the network is not reachable (or COURSE_OFFLINE=1). "
            f"Offline, find_flowers() uses the synthetic flowers, or point {FLOWERS_ENV_VAR} at a "
            "copy of Flowers-102 in the notes' layout."
        )
    print(f"Downloading Flowers-102 (about {OFFICIAL_SIZE_MB} MB) into a temporary folder next to {final} ...")
    with atomic_directory(final) as tmp:
        raw = tmp / "_download"
        try:
            _torchvision_download(raw)
        except OSError as error:  # a lost connection, a refused socket, a full disk
            raise RuntimeError(
                f"Downloading Flowers-102 failed ({error}); nothing was kept. Run "
                "find_flowers(download=True) again when the connection works, or point "
                f"{FLOWERS_ENV_VAR} at a copy you already have."
            ) from error
        _convert_official(raw / "flowers-102", tmp, progress=progress)
        shutil.rmtree(raw)
    return final


def _torchvision_download(root: Path) -> None:
    """torchvision's Flowers102 downloads the three files, checks their MD5s and unpacks."""
    from torchvision.datasets import Flowers102

    with stall_timeout():
        Flowers102(root, split="train", download=True)


def _convert_official(raw: Path, out: Path, *, progress: bool = True) -> None:
    """Sort the official images into out/<split>/<class id>/ and write cat_to_name.json."""
    import numpy as np
    from scipy.io import loadmat  # torchvision's Flowers102 needs SciPy for the same files
    from tqdm.auto import tqdm

    labels = np.ravel(loadmat(raw / "imagelabels.mat")["labels"]).tolist()  # 1..102, by image id
    split_ids = loadmat(raw / "setid.mat")
    moves = [
        (int(image_id), split)
        for split, key in OFFICIAL_SPLITS.items()
        for image_id in np.ravel(split_ids[key])
    ]
    for image_id, split in tqdm(moves, desc="sorting images into class folders", disable=not progress):
        name = f"image_{image_id:05d}.jpg"
        folder = out / split / str(int(labels[image_id - 1]))
        folder.mkdir(parents=True, exist_ok=True)
        os.replace(raw / "jpg" / name, folder / name)
    (out / NAMES_FILE).write_text(json.dumps(flowers102_names(), indent=1) + "\n")
