"""Launch links: open a notebook on Colab or Binder without installing anything.

Everything here is generated from ONE setting, ``[project.urls] Repository`` in
``pyproject.toml``. Each notebook gets two cells right after its title cell:

- a markdown cell (tag ``launch-badges``) with an "Open in Colab" and a "Launch Binder" badge,
  both naming that notebook's own path in the repository;
- a code cell (tag ``colab-install``) that, on Colab only, pip-installs the course from the
  repository (``course_utils`` and its dependencies). Anywhere else it does nothing and prints
  nothing, so nbval has no output to compare and a learner on their own machine loses nothing.

Binder builds ``environment.yml``; Colab has PyTorch already and gets the rest from pip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 without tomli: read the one line we need
    tomllib = None

__all__ = [
    "BADGES_TAG",
    "INSTALL_TAG",
    "Repository",
    "badge_markdown",
    "colab_install_source",
    "readme_badges",
    "repository",
]

BADGES_TAG = "launch-badges"
INSTALL_TAG = "colab-install"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


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


def badge_markdown(repo: Repository, path: str) -> str:
    """The badges cell of the notebook at ``path`` (relative to the repository root, with /)."""
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({repo.colab(path)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({repo.binder(path)})\n"
        "\n"
        "*Nothing to install:* open this notebook on Colab (run the next cell first: it installs "
        "the course there) or on Binder (its first start can take a few minutes)."
    )


def colab_install_source(repo: Repository) -> str:
    """The install cell: pip-installs the course on Colab, does nothing (and prints nothing) elsewhere."""
    return (
        "# On Colab only: install the course's package and what it needs. Elsewhere: nothing.\n"
        "import os\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules or any(name.startswith("COLAB_") for name in os.environ):\n'
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "--quiet", "git+{repo.url}"],\n'
        "        check=True,\n"
        "    )"
    )


def readme_badges(repo: Repository, first_notebook: str) -> str:
    """README badges: Colab opens the first notebook, Binder opens JupyterLab on it."""
    return (
        f"[![Open In Colab]({COLAB_BADGE})]({repo.colab(first_notebook)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({repo.binder(first_notebook)})"
    )
