"""Launch links: open a notebook on Colab or Binder without installing anything.

Everything here is generated from ONE setting, ``[project.urls] Repository`` in
``pyproject.toml``. Each notebook gets two cells right after its title cell:

- a markdown cell (tag ``launch-badges``) with an "Open in Colab" and a "Launch Binder" badge,
  both naming that notebook's own path in the repository;
- a code cell (tag ``colab-install``) that, on Colab only, pip-installs the course from the
  repository (``course_utils``, and those of its dependencies that Colab lacks). Anywhere else
  it does nothing and prints nothing, so nbval has no output to compare and a learner on
  their own machine loses nothing.

Binder builds ``environment.yml``; Colab has PyTorch already and gets the rest from pip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: read what we need with regular expressions
    tomllib = None

__all__ = [
    "BADGES_TAG",
    "BADGE_TEXT",
    "INSTALL_TAG",
    "ON_COLAB",
    "Repository",
    "badge_markdown",
    "colab_install_source",
    "readme_badges",
    "repository",
    "requirement_name",
    "runtime_requirements",
]

BADGES_TAG = "launch-badges"
INSTALL_TAG = "colab-install"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
# What a Colab runtime already has (or, for the Jupyter front end, does not need): the install
# cell leaves these alone, so that pip never swaps Colab's PyTorch or Jupyter for other versions.
ON_COLAB = frozenset(
    {"torch", "torchvision", "numpy", "matplotlib", "pillow", "tqdm", "ipywidgets", "scipy"}
    | {"jupyterlab", "ipykernel", "jupyterlab-rise"}
)


@dataclass(frozen=True)
class Repository:
    """A public GitHub repository and the branch the links open."""

    owner: str
    name: str
    branch: str = "main"

    @property
    def url(self) -> str:
        return f"https://github.com/{self.owner}/{self.name}"

    def colab(self, path: str) -> str:
        """Colab opens a notebook straight from GitHub by its path in the repository."""
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/{self.branch}/{path}"

    def binder(self, path: str | None = None) -> str:
        """Binder builds environment.yml, then opens JupyterLab (at ``path`` when given)."""
        link = f"https://mybinder.org/v2/gh/{self.owner}/{self.name}/{self.branch}"
        return f"{link}?labpath={quote(path, safe='')}" if path else link


def repository(root: Path) -> Repository:
    """The repository named by ``[project.urls] Repository`` in ``root/pyproject.toml``."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if tomllib is not None:
        url = tomllib.loads(text).get("project", {}).get("urls", {}).get("Repository")
    else:
        found = re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M)
        url = found.group(1) if found else None
    if not url:
        raise ValueError(
            f"{pyproject} has no [project.urls] Repository = \"https://github.com/OWNER/NAME\"; "
            "add it: the launch links are made from it."
        )
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise ValueError(
            f"[project.urls] Repository must be a GitHub address like "
            f"https://github.com/OWNER/NAME (Colab and Binder open GitHub repositories), got {url!r}."
        )
    return Repository(match.group(1), match.group(2))


BADGE_TEXT = {
    "en": "*Nothing to install:* open this notebook on Colab (run the next cell first: it installs "
    "the course there) or on Binder (its first start can take a few minutes).",
    "zh_CN": "*无需安装*：在 Colab 上打开本笔记本（先运行下一格，它会在 Colab 上安装本课程），"
    "或在 Binder 上打开（第一次启动可能要等几分钟）。",
}
"""The sentence under the badges, in each edition's language (``tools/i18n`` writes the Chinese one)."""


def badge_markdown(repo: Repository, path: str, language: str = "en") -> str:
    """The badges cell of the notebook at ``path`` (relative to the repository root, with /)."""
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({repo.colab(path)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({repo.binder(path)})\n"
        "\n"
        f"{BADGE_TEXT[language]}"
    )


def colab_install_source(repo: Repository, requirements: Iterable[str] = ()) -> str:
    """The install cell: pip-installs the course on Colab, does nothing (and prints nothing) elsewhere.

    ``requirements`` are the course's runtime dependencies (``[project] dependencies``). Those
    that Colab already has (:data:`ON_COLAB`) are left alone, so that pip never replaces
    Colab's own PyTorch or Jupyter packages; the rest are installed, then the course itself
    without dependencies.
    """
    missing = sorted({requirement_name(r) for r in requirements} - ON_COLAB)
    pip = '[sys.executable, "-m", "pip", "install", "--quiet"'
    lines = [
        "# On Colab only: install the course's package and what Colab lacks. Elsewhere: nothing.",
        "import os",
        "import subprocess",
        "import sys",
        "",
        'if "google.colab" in sys.modules or any(name.startswith("COLAB_") for name in os.environ):',
    ]
    if missing:
        names = ", ".join(f'"{name}"' for name in missing)
        lines.append(f"    subprocess.run({pip}, {names}], check=True)")
    lines.append(f'    subprocess.run({pip}, "--no-deps", "git+{repo.url}"], check=True)')
    return "\n".join(lines)


def requirement_name(requirement: str) -> str:
    """The distribution name of a requirement (``"torch>=2"`` → ``"torch"``), normalised."""
    return re.split(r"[<>=!~\[ ;@]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def runtime_requirements(root: Path) -> list[str]:
    """``[project] dependencies`` of ``root/pyproject.toml``."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        return list(tomllib.loads(text).get("project", {}).get("dependencies", []))
    # Python 3.10 without tomli: the top-level `dependencies = [...]` list, comments removed.
    block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.M | re.S)
    body = re.sub(r"#.*$", "", block.group(1), flags=re.M) if block else ""
    return re.findall(r'"([^"]+)"', body)


def readme_badges(repo: Repository, first_notebook: str) -> str:
    """README badges: Colab opens the first notebook, Binder opens JupyterLab on it."""
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({repo.colab(first_notebook)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({repo.binder(first_notebook)})"
    )
