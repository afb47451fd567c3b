"""The conda route (environment.yml) and the pip route (pyproject.toml) install the same packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent

# conda names that differ from the PyPI names
CONDA_TO_PYPI = {"pytorch": "torch"}
NOT_PACKAGES = {"python", "pip"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return {_name(r) for r in requirements}


def environment_yml_packages() -> set[str]:
    names: set[str] = set()
    text = (ROOT / "environment.yml").read_text()
    dependencies = text.split("\ndependencies:", 1)[1]
    for line in dependencies.splitlines():
        match = re.match(r"^\s*-\s+(\S.*)$", line)
        if not match or match.group(1).startswith(("-", "pip:")) or match.group(1) == "pip:":
            continue
        item = match.group(1)
        if item.endswith(":"):
            continue
        name = _name(item)
        if name in NOT_PACKAGES:
            continue
        names.add(CONDA_TO_PYPI.get(name, name))
    return names


def test_environment_yml_matches_pyproject():
    in_pyproject = pyproject_packages()
    in_conda = environment_yml_packages()
    assert in_conda == in_pyproject, (
        f"only in pyproject.toml: {sorted(in_pyproject - in_conda)}; "
        f"only in environment.yml: {sorted(in_conda - in_pyproject)}"
    )


def test_environment_yml_installs_the_course_package():
    assert re.search(r"^\s*-\s+-e\s+\.\s*$", (ROOT / "environment.yml").read_text(), re.M)
