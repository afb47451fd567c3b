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


def environment_yml_channels() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    block = text.split("\nchannels:", 1)[1].split("\ndependencies:", 1)[0]
    return [m.group(1).strip() for m in re.finditer(r"^\s*-\s+(\S+)\s*$", block, re.M)]


def test_environment_yml_uses_conda_forge_only():
    """PyTorch stopped publishing to the `pytorch` channel after 2.5: conda-forge has it now."""
    channels = environment_yml_channels()
    assert channels, "environment.yml lists no channels"
    assert channels[0] == "conda-forge", f"conda-forge must come first, got {channels}"
    assert "pytorch" not in channels, (
        "the `pytorch` conda channel stopped at PyTorch 2.5; use conda-forge's pytorch"
    )
    assert set(channels) <= {"conda-forge", "nodefaults"}, f"unexpected channels: {channels}"
    assert {"torch", "torchvision"} <= environment_yml_packages()
