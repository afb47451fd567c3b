"""A pytest plugin: how long each test file took, from its first test's start to its last test's end.

For a notebook under nbval that span includes starting its kernel (done in the first cell's
set-up). ``python -m benchmarks.test_run`` loads it with ``-p benchmarks.pytest_timing`` and
reads the JSON file named by ``COURSE_TIMING_FILE``.
"""

from __future__ import annotations

import json
import os
import time

TIMING_ENV_VAR = "COURSE_TIMING_FILE"

_spans: dict[str, list[float]] = {}


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def pytest_runtest_logstart(nodeid: str, location: tuple) -> None:
    now = time.monotonic()
    _spans.setdefault(_file_of(nodeid), [now, now])


def pytest_runtest_logfinish(nodeid: str, location: tuple) -> None:
    _spans[_file_of(nodeid)][1] = time.monotonic()


def pytest_sessionfinish(session, exitstatus) -> None:
    out = os.environ.get(TIMING_ENV_VAR)
    if out:
        seconds = {path: end - start for path, (start, end) in _spans.items()}
        with open(out, "w") as file:
            json.dump(seconds, file, indent=1)
