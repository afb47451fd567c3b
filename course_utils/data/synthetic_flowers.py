"""A synthetic flower data set: the course's offline default when no real photographs are there.

Twelve invented species that differ in **shape** (thin rays, round petals, pointed
petals, pom-poms, bells, tulips, spikes) and **colour**, drawn with the variation real
photographs have: pose (rotation, tilt), scale, position, background (foliage, sky,
soil) and lighting. Every image is drawn from its own seed, so the set is the same on
every machine; it is written in the same layout as Flowers-102::

    train/<class id>/*.jpg   valid/<class id>/*.jpg   test/<class id>/*.jpg   cat_to_name.json

with class ids ``"1"`` … ``"12"``, so that ``"10"`` sorts before ``"2"`` exactly as it
does for the real data. The numbers a model reaches here say that the code works; they
are **not** Flowers-102 numbers.
"""

from __future__ import annotations

import colorsys
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from course_utils.storage.folders import atomic_directory, remove_partial_folders

__all__ = [
    "SPLITS",
    "Species",
    "draw_flower",
    "make_synthetic_flowers",
    "species_names",
    "synthetic_flowers_dir",
]

GENERATOR_VERSION = 1
"""Bump when the drawing changes, so that old cached copies are not reused."""

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Species:
    """How one invented flower species looks."""

    name: str
    form: str  # "rays", "round", "pointed", "ball", "bell", "tulip" or "spike"
    hue: float  # petal hue, degrees
    saturation: float  # petal saturation, 0..1
    petals: int = 0  # number of petals for the radial forms
    centre: tuple[int, int, int] = (240, 200, 40)  # RGB of the flower's centre


SPECIES: tuple[Species, ...] = (
    Species("white daisy", "rays", hue=50, saturation=0.04, petals=18, centre=(235, 190, 30)),
    Species("golden daisy", "rays", hue=45, saturation=0.9, petals=18, centre=(100, 55, 20)),
    Species("blue star", "pointed", hue=222, saturation=0.75, petals=5, centre=(250, 245, 220)),
    Species("pink star", "pointed", hue=330, saturation=0.5, petals=5, centre=(250, 215, 50)),
    Species("red poppy", "round", hue=2, saturation=0.92, petals=4, centre=(25, 20, 25)),
    Species("yellow poppy", "round", hue=52, saturation=0.9, petals=4, centre=(190, 110, 10)),
    Species("purple pompom", "ball", hue=285, saturation=0.65),
    Species("orange pompom", "ball", hue=28, saturation=0.9),
    Species("violet bell", "bell", hue=262, saturation=0.6),
    Species("yellow tulip", "tulip", hue=50, saturation=0.85),
    Species("red tulip", "tulip", hue=355, saturation=0.85),
    Species("lilac spike", "spike", hue=290, saturation=0.4),
)

BACKGROUNDS = {  # (top colour, bottom colour, blob colours)
    "foliage": ((40, 90, 40), (20, 55, 25), [(60, 120, 50), (30, 70, 30), (90, 130, 60)]),
    "sky": ((120, 170, 230), (200, 220, 240), [(235, 240, 250), (150, 190, 235)]),
    "soil": ((110, 85, 60), (70, 50, 35), [(130, 100, 70), (90, 120, 60), (60, 45, 30)]),
    "meadow": ((150, 180, 110), (60, 100, 45), [(200, 200, 120), (80, 130, 60), (240, 240, 220)]),
}


def species_names() -> list[str]:
    """The names of the synthetic species, in class-id order (id 1 first)."""
    return [s.name for s in SPECIES]


def synthetic_flowers_dir(
    parent: Path | None = None,
    *,
    image_size: int = 160,
    per_class: tuple[int, int, int] = (30, 10, 10),
    seed: int = 0,
) -> Path:
    """The folder this set is cached in: its name records everything that shapes its content."""
    if parent is None:
        from course_utils.env import data_dir

        parent = data_dir()
    counts = "-".join(str(n) for n in per_class)
    return Path(parent) / f"synthetic-flowers-v{GENERATOR_VERSION}-{image_size}px-{counts}-seed{seed}"


def make_synthetic_flowers(
    parent: Path | None = None,
    *,
    image_size: int = 160,
    per_class: tuple[int, int, int] = (30, 10, 10),
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Draw the data set (once) and return its root folder.

    ``per_class`` gives the number of images per class in train, valid and test. The set
    is cached under ``parent`` (default: the course's data folder) and reused when it is
    already complete; it is written to a temporary folder and renamed into place at the
    end, so an interrupted run never leaves a half-made set behind.
    """
    if image_size < 32:
        raise ValueError(f"image_size={image_size} is too small to draw a flower; use 32 or more.")
    if len(per_class) != 3 or min(per_class) < 1:
        raise ValueError(f"per_class must give three positive counts (train, valid, test), got {per_class}.")
    root = synthetic_flowers_dir(parent, image_size=image_size, per_class=per_class, seed=seed)
    if root.is_dir():
        return root
    remove_partial_folders(root)
    jobs = [
        (split_index, split, class_index, i)
        for split_index, (split, count) in enumerate(zip(SPLITS, per_class, strict=True))
        for class_index in range(len(SPECIES))
        for i in range(count)
    ]
    from tqdm.auto import tqdm

    with atomic_directory(root) as tmp:
        for split_index, split, class_index, i in tqdm(
            jobs, desc="drawing synthetic flowers", disable=not progress, leave=False
        ):
            folder = tmp / split / str(class_index + 1)
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([seed, split_index, class_index, i])
            image = draw_flower(SPECIES[class_index], rng, image_size)
            image.save(folder / f"image_{i:04d}.jpg", quality=90)
        names = {str(k + 1): s.name for k, s in enumerate(SPECIES)}
        (tmp / "cat_to_name.json").write_text(json.dumps(names, indent=1) + "\n")
    return root


# --- drawing -------------------------------------------------------------------------------


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue % 360) / 360, min(max(saturation, 0), 1), min(max(value, 0), 1))
    return int(r * 255), int(g * 255), int(b * 255)


def _jitter(colour: tuple[int, int, int], rng: np.random.Generator, amount: float) -> tuple[int, ...]:
    return tuple(min(max(int(c + rng.normal(0, amount)), 0), 255) for c in colour)


def _petal(cx: float, cy: float, angle: float, length: float, width: float, profile: str, start: float = 0.0):
    """Polygon of one petal pointing along ``angle`` (radians) from the centre (cx, cy)."""
    ts = np.linspace(0, 1, 24)
    if profile == "rays":
        half = width * np.sin(np.pi * ts) ** 0.6
    elif profile == "pointed":
        half = width * np.sin(np.pi * ts**0.8) * (1 - ts) ** 0.35
    else:  # round: a broad, fan-shaped petal
        half = width * np.sqrt(np.clip(1 - (2 * ts - 1) ** 2, 0, 1)) ** 0.5 * (0.35 + 0.65 * ts)
    along = start + ts * length
    c, s = math.cos(angle), math.sin(angle)
    left = [(cx + a * c - h * s, cy + a * s + h * c) for a, h in zip(along, half, strict=True)]
    right = [(cx + a * c + h * s, cy + a * s - h * c) for a, h in zip(along, half, strict=True)]
    return left + right[::-1]


def _background(size: int, rng: np.random.Generator) -> Image.Image:
    """An out-of-focus background: drawn small, blurred, then enlarged (which blurs it more)."""
    final_size, size = size, max(size // 4, 8)
    top, bottom, blobs = BACKGROUNDS[list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]]
    top, bottom = _jitter(top, rng, 18), _jitter(bottom, rng, 18)  # type: ignore[assignment]
    t = np.linspace(0, 1, size)[:, None, None]
    pixels = (1 - t) * np.array(top) + t * np.array(bottom)
    image = Image.fromarray(np.repeat(pixels, size, axis=1).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(6, 16)):
        x, y = rng.uniform(-0.1, 1.1, 2) * size
        rx, ry = rng.uniform(0.04, 0.2, 2) * size
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=_jitter(blobs[rng.integers(len(blobs))], rng, 20))
    image = image.filter(ImageFilter.GaussianBlur(size * rng.uniform(0.01, 0.03)))
    return image.resize((final_size, final_size), Image.Resampling.BILINEAR)


def _stem(draw: ImageDraw.ImageDraw, x: float, y: float, size: int, rng: np.random.Generator) -> None:
    green = _jitter((50, 120, 40), rng, 20)
    bend = rng.uniform(-0.15, 0.15) * size
    points = [(x + bend * (k / 8) ** 2, y + (size * 1.1 - y) * k / 8) for k in range(9)]
    draw.line(points, fill=green, width=max(2, int(size * 0.025)))
    for _ in range(rng.integers(0, 3)):
        k = rng.integers(3, 8)
        lx, ly = points[k]
        side = rng.choice([-1, 1])
        leaf = _petal(lx, ly, math.radians(-90 + side * rng.uniform(30, 70)), size * 0.22, size * 0.05, "rays")
        draw.polygon(leaf, fill=_jitter((60, 135, 45), rng, 20))


def _radial(draw, species: Species, cx, cy, radius, rng) -> None:
    rotation = rng.uniform(0, 2 * math.pi)  # pose: which way the petals point
    squash = rng.uniform(0.65, 1.0)  # pose: a flower seen at a slant looks like an ellipse
    n = species.petals + int(rng.integers(-1, 2)) * (species.petals > 8)
    width = {"rays": 0.13, "pointed": 0.42, "round": 0.62}[species.form] * radius
    for layer in ((1.0, 0.0), (0.6, 0.5)) if species.form == "round" else ((1.0, 0.0),):
        scale, offset = layer
        for k in range(n):
            angle = rotation + (k + offset) * 2 * math.pi / n + rng.normal(0, 0.06)
            length = radius * scale * rng.uniform(0.85, 1.05)
            points = _petal(0, 0, angle, length, width * scale, species.form, start=radius * 0.05)
            points = [(cx + px, cy + py * squash) for px, py in points]
            value = rng.uniform(0.75, 1.0) * (0.9 if offset else 1.0)
            fill = _hsv(species.hue + rng.normal(0, 4), species.saturation + rng.normal(0, 0.04), value)
            draw.polygon(points, fill=fill, outline=_hsv(species.hue, species.saturation, value * 0.7))
    core = radius * {"rays": 0.28, "pointed": 0.22, "round": 0.26}[species.form]
    draw.ellipse([cx - core, cy - core * squash, cx + core, cy + core * squash], fill=_jitter(species.centre, rng, 12))
    for _ in range(12):  # texture of the centre
        a, r = rng.uniform(0, 2 * math.pi), rng.uniform(0, core * 0.8)
        x, y, d = cx + r * math.cos(a), cy + r * math.sin(a) * squash, core * 0.12
        draw.ellipse([x - d, y - d, x + d, y + d], fill=_jitter(species.centre, rng, 40))


def _ball(draw, species: Species, cx, cy, radius, rng) -> None:
    light = rng.uniform(0, 2 * math.pi)
    for _ in range(160):
        a, r = rng.uniform(0, 2 * math.pi), radius * math.sqrt(rng.uniform(0, 1))
        x, y = cx + r * math.cos(a), cy + r * math.sin(a)
        lit = 0.5 + 0.5 * (r / radius) * math.cos(a - light)  # brighter on the side of the light
        d = radius * rng.uniform(0.08, 0.15)
        fill = _hsv(species.hue + rng.normal(0, 6), species.saturation, 0.45 + 0.55 * lit)
        draw.ellipse([x - d, y - d, x + d, y + d], fill=fill)


def _rotated(points, cx, cy, angle):
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def _bell(draw, species: Species, cx, cy, radius, rng) -> None:
    for _ in range(int(rng.integers(1, 4))):  # one to three bells hanging from an arching stem
        x, y = cx + rng.uniform(-0.6, 0.6) * radius, cy + rng.uniform(-0.5, 0.5) * radius
        size = radius * rng.uniform(0.6, 0.85)
        tilt = rng.normal(0, 0.35)
        ts = np.linspace(0, 1, 16)
        half = size * (0.25 + 0.4 * ts**1.8)  # narrow at the top, flaring at the mouth
        outline = [(-h, size * t) for h, t in zip(half, ts, strict=True)]
        lobes = [(size * 0.65 * math.cos(math.pi * (1 - k / 8)), size * (1 + 0.08 * (k % 2))) for k in range(9)]
        outline += lobes + [(h, size * t) for h, t in zip(half[::-1], ts[::-1], strict=True)]
        outline = [(px, py - size * 0.5) for px, py in outline]
        fill = _hsv(species.hue + rng.normal(0, 5), species.saturation, rng.uniform(0.6, 0.95))
        draw.polygon(_rotated(outline, x, y, tilt), fill=fill, outline=_hsv(species.hue, species.saturation, 0.4))


def _tulip(draw, species: Species, cx, cy, radius, rng) -> None:
    tilt = rng.normal(0, 0.3)
    for k, shift in enumerate((-0.45, 0.45, 0.0)):  # two side petals, then the front one
        ts = np.linspace(0, 1, 20)
        half = radius * 0.42 * np.sin(np.pi * ts) ** 0.7
        petal = [(shift * radius + h, radius * (0.7 - 1.5 * t)) for h, t in zip(half, ts, strict=True)]
        petal += [(shift * radius - h, radius * (0.7 - 1.5 * t)) for h, t in zip(half[::-1], ts[::-1], strict=True)]
        value = rng.uniform(0.7, 0.95) * (1.0 if k == 2 else 0.85)
        fill = _hsv(species.hue + rng.normal(0, 4), species.saturation, value)
        draw.polygon(_rotated(petal, cx, cy, tilt), fill=fill, outline=_hsv(species.hue, species.saturation, 0.45))


def _spike(draw, species: Species, cx, cy, radius, rng) -> None:
    tilt = rng.normal(0, 0.2)
    for k in range(22):  # small florets along a vertical axis, smaller towards the tip
        t = k / 21
        x, y = rng.normal(0, 0.18) * radius * (1 - 0.6 * t), radius * (1.0 - 2.2 * t)
        (x, y), d = _rotated([(x, y)], cx, cy, tilt)[0], radius * (0.22 - 0.12 * t)
        fill = _hsv(species.hue + rng.normal(0, 6), species.saturation, rng.uniform(0.6, 1.0))
        draw.ellipse([x - d, y - d, x + d, y + d], fill=fill, outline=_hsv(species.hue, species.saturation, 0.45))


FORMS = {"rays": _radial, "pointed": _radial, "round": _radial, "ball": _ball, "bell": _bell, "tulip": _tulip, "spike": _spike}


def draw_flower(species: Species, rng: np.random.Generator, image_size: int = 160) -> Image.Image:
    """One photograph-like picture of ``species``, drawn twice as large and then reduced."""
    size = image_size * 2
    image = _background(size, rng)
    draw = ImageDraw.Draw(image)
    cx, cy = size * (0.5 + rng.uniform(-0.15, 0.15, 2))
    radius = size * rng.uniform(0.22, 0.4)  # scale
    _stem(draw, cx, cy, size, rng)
    FORMS[species.form](draw, species, cx, cy, radius, rng)
    image = image.reduce(2)  # averaging 2x2 pixels smooths the drawn edges
    return _light(image, rng)


def _light(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Lighting: overall exposure, a soft gradient from the light's side, and sensor noise."""
    pixels = np.asarray(image, dtype=np.float32)
    h, w = pixels.shape[:2]
    angle = rng.uniform(0, 2 * math.pi)
    y = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None, None]
    x = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :, None]
    gradient = 1 + rng.uniform(0.1, 0.4) * (x * math.cos(angle) + y * math.sin(angle))
    exposure = rng.uniform(0.7, 1.25)
    warmth = np.array([1 + rng.normal(0, 0.04), 1.0, 1 + rng.normal(0, 0.04)], dtype=np.float32)
    noise = rng.standard_normal(pixels.shape, dtype=np.float32) * 4
    pixels = (pixels * (exposure * gradient * warmth) + noise).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
