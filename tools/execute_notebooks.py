"""``python -m tools.execute_notebooks [NOTEBOOK ...]``: the full run a notebook is committed with.

Each notebook runs top to bottom in a fresh kernel (the current environment's Python), in
place, as a learner's full run (``COURSE_FAST`` unset). Then :mod:`tools.clean_notebook` writes
each progress bar's final state, drops the per-cell timestamps and the bars' widget state, and
:mod:`tools.notebook_chrome` brings the launch links and slide metadata up to date. The wall
time of each notebook is printed: put it into ``notebooks/times.json`` and run
``python -m tools.run_times``, which writes the notebook's "Time to run" line from it.

``COURSE_FLOWERS_DIR`` is passed through: set it to the real Flowers-102 subset so that 06-08
are committed from real photographs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tools.clean_notebook import clean
from tools.launch_links import repository, runtime_requirements
from tools.notebook_chrome import ROOT, chrome_notebook, notebook_paths

__all__ = ["execute", "main"]


def execute(path: Path, timeout: int = 3600) -> float:
    """Run one notebook in place as a full run; return its wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    os.environ.pop("COURSE_FAST", None)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",  # this environment's Python
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - started
    clean(notebook)
    chrome_notebook(notebook, path.relative_to(ROOT).as_posix(), repository(ROOT), runtime_requirements(ROOT))
    path.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.execute_notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook")
    args = parser.parse_args(argv)
    for path in args.notebooks or notebook_paths(ROOT):
        seconds = execute(Path(path).resolve())
        print(f"{Path(path).name}: full run {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
