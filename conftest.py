"""pytest set-up shared by the unit tests and the notebook (nbval) tests."""

from __future__ import annotations

import os
from pathlib import Path

import nbval.plugin as _nbval

_REAL_FLOWERS = Path(__file__).resolve().parent.parent / "shared" / "data" / "flowers102-small"
if "COURSE_FLOWERS_DIR" not in os.environ and _REAL_FLOWERS.is_dir():
    # Real photographs next to the repository (the project's shared data): notebook 06 runs on
    # them instead of the synthetic flowers, so the real path is tested on every change. Kernels
    # started by nbval inherit the variable. Set COURSE_FLOWERS_DIR yourself to choose otherwise.
    os.environ["COURSE_FLOWERS_DIR"] = str(_REAL_FLOWERS)

_compare_streams = _nbval.transform_streams_for_comparison


def _without_stderr(outputs):
    """Compare stdout, text/plain and text/html, never stderr.

    Warnings from libraries (a deprecation, a tqdm notice) go to stderr and differ
    between versions and platforms; a cell that fails still fails, because errors are
    reported by nbval separately from stream output.
    """
    kept = [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    return _compare_streams(kept)


_nbval.transform_streams_for_comparison = _without_stderr
