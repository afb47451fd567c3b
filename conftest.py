"""pytest set-up shared by the unit tests and the notebook (nbval) tests."""

from __future__ import annotations

import nbval.plugin as _nbval

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
