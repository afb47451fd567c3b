"""Launch links and the Colab install cell (tools/launch_links.py, tools/notebook_chrome.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from tools.launch_links import (
    BADGES_TAG,
    INSTALL_TAG,
    ON_COLAB,
    Repository,
    repository,
    requirement_name,
    runtime_requirements,
)
from tools.notebook_chrome import chrome_notebook, chrome_readme, main, notebook_paths

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths(ROOT)
REPO = repository(ROOT)


def _cells(path: Path, tag: str) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if tag in c.get("metadata", {}).get("tags", [])]


def test_the_repository_is_named_once_in_pyproject():
    assert REPO.url == "https://github.com/" + REPO.owner + "/" + REPO.name
    assert (ROOT / "pyproject.toml").read_text().count(REPO.url) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_links_to_itself_on_colab_and_binder(path):
    own = path.relative_to(ROOT).as_posix()
    (badges,) = _cells(path, BADGES_TAG)
    links = re.findall(r"\]\((https://[^)\s]+)\)", "".join(badges["source"]))
    colab = [u for u in links if u.startswith("https://colab.research.google.com/github/")]
    binder = [u for u in links if u.startswith("https://mybinder.org/v2/gh/")]
    assert colab == [f"https://colab.research.google.com/github/{REPO.owner}/{REPO.name}/blob/{REPO.branch}/{own}"]
    assert len(binder) == 1
    base, _, query = binder[0].partition("?")
    assert base == f"https://mybinder.org/v2/gh/{REPO.owner}/{REPO.name}/{REPO.branch}"
    assert unquote(query) == f"labpath={own}"
    assert (ROOT / own).is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_launch_cells_come_right_after_the_title(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert "".join(cells[0]["source"]).startswith("# "), "the title stays the first cell"
    assert BADGES_TAG in cells[1]["metadata"]["tags"]
    assert INSTALL_TAG in cells[2]["metadata"]["tags"]
    first_code = next(c for c in cells if c["cell_type"] == "code")
    assert first_code is cells[2], "the Colab install cell must be the first code cell"
    assert cells[2]["outputs"] == [], "outside Colab the install cell prints nothing"


def _run_install_cell(source: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the cell's source in a fresh Python whose pip is a spy that records any call."""
    spy = tmp_path / "spy"
    (spy / "pip").mkdir(parents=True)
    (spy / "pip" / "__init__.py").write_text("")
    record = tmp_path / "pip-called"
    (spy / "pip" / "__main__.py").write_text(
        f"import sys\nopen({str(record)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
    )
    env = dict(env, PYTHONPATH=str(spy))
    return subprocess.run(
        [sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_the_install_cell_does_nothing_outside_colab(tmp_path):
    source = "".join(_cells(NOTEBOOKS[0], INSTALL_TAG)[0]["source"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLAB_")}
    done = _run_install_cell(source, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert not (tmp_path / "pip-called").exists(), "pip ran outside Colab"


def test_the_install_cell_installs_the_repository_on_colab(tmp_path):
    """The other branch: with Colab's environment variables set, pip is called (here a spy)."""
    source = "".join(_cells(NOTEBOOKS[0], INSTALL_TAG)[0]["source"])
    assert f"git+{REPO.url}" in source
    done = _run_install_cell(source, tmp_path, dict(os.environ, COLAB_RELEASE_TAG="test"))
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "pip-called").read_text().splitlines()
    assert calls[-1] == f"install --quiet --no-deps git+{REPO.url}"
    installed = {word for call in calls for word in call.split()[1:] if not word.startswith("-")}
    needed = {requirement_name(r) for r in runtime_requirements(ROOT)}
    assert installed == (needed - ON_COLAB) | {f"git+{REPO.url}"}, "what Colab lacks, and the course"
    assert not installed & {"torch", "jupyterlab", "ipykernel"}, "never replace Colab's own"


def test_every_notebook_and_the_readme_are_up_to_date():
    """Fails when a notebook was added or edited without `make chrome`."""
    assert main(["--check"]) == 0, "run `make chrome` (python -m tools.notebook_chrome)"


def test_the_tool_is_idempotent_and_updates_stale_links(tmp_path):
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    shutil.copy(NOTEBOOKS[1], tmp_path / "notebooks")
    copied = tmp_path / "notebooks" / NOTEBOOKS[1].name
    nb = nbformat.read(copied, as_version=4)
    # Damage it as an edit might: stale links, the install cell moved down with an output,
    # chrome removed from nowhere else, and slide metadata dropped from every cell.
    badges = next(c for c in nb.cells if BADGES_TAG in c.metadata.get("tags", []))
    badges.source = badges.source.replace(REPO.owner, "someone-else")
    install = nb.cells.pop(2)
    install.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Collecting…\n")]
    nb.cells.insert(6, install)
    for cell in nb.cells:
        cell.metadata.pop("slideshow", None)
    nbformat.write(nb, copied)

    assert main(["--root", str(tmp_path), "--check"]) == 1
    assert main(["--root", str(tmp_path)]) == 0
    fixed = copied.read_text(encoding="utf-8")
    assert fixed == NOTEBOOKS[1].read_text(encoding="utf-8")
    assert main(["--root", str(tmp_path)]) == 0
    assert copied.read_text(encoding="utf-8") == fixed, "a second run changed something"


def test_a_new_notebook_gets_its_own_links():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 99 · New"), nbformat.v4.new_code_cell("1")])
    repo = Repository("me", "course", "dev")
    chrome_notebook(nb, "notebooks/99-new.ipynb", repo)
    assert [c.metadata.get("tags", []) for c in nb.cells] == [[], [BADGES_TAG], [INSTALL_TAG], []]
    assert "colab.research.google.com/github/me/course/blob/dev/notebooks/99-new.ipynb" in nb.cells[1].source
    assert "labpath=notebooks%2F99-new.ipynb" in nb.cells[1].source
    once = nbformat.writes(nb)
    chrome_notebook(nb, "notebooks/99-new.ipynb", repo)
    assert nbformat.writes(nb) == once


def test_readme_badges_point_at_the_first_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = NOTEBOOKS[0].relative_to(ROOT).as_posix()
    assert f"{REPO.colab(first)})" in readme
    assert f"{REPO.binder(first)})" in readme
    assert chrome_readme(readme, REPO, first) == readme


def test_a_bad_repository_url_is_refused_with_what_to_write(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[project.urls]\nRepository = "https://gitlab.com/a/b"\n')
    with pytest.raises(ValueError, match="https://github.com/OWNER/NAME"):
        repository(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ValueError, match=r"\[project.urls\] Repository"):
        repository(tmp_path)
