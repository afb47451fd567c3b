"""``python -m benchmarks.test_run``: what the README's test command costs on this machine.

Runs ``make test`` (exactly what CI runs through ``.ci/run``, set-up included when the virtual
environment is not there yet) and reports, against the targets:

- the wall time of the whole command (target: under 20 minutes);
- the time of every notebook under nbval, kernel start included, and of all of them together
  (target: under 6 minutes), read by the pytest plugin :mod:`benchmarks.pytest_timing`;
- the peak memory of the run: every process it starts (pytest, notebook kernels, DataLoader
  workers) sampled together four times a second, as the sum of their proportional set sizes
  (PSS: a shared library counts once) and, an upper bound, of their resident sizes (RSS)
  (target: under 4 GiB). Linux only (it reads ``/proc``); elsewhere the memory columns are empty.

It needs only the standard library, so it runs before the set-up, from a fresh clone::

    git clone <repo> /tmp/x && cd /tmp/x && python3 -m benchmarks.test_run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.pytest_timing import TIMING_ENV_VAR

TARGETS = {"whole": 20 * 60, "notebooks": 6 * 60, "memory_gib": 4.0}
GIB = 1024**3


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children, todo, found = _children_map(), [root], []
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _memory_of(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in bytes; (0, 0) when it has already gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as file:
            for line in file:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, rss


class TreeMemory(threading.Thread):
    """Samples the summed memory of a process and all its descendants until stopped."""

    def __init__(self, root: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.peak_pss = self.peak_rss = 0
        self.available = Path("/proc/self/smaps_rollup").exists()
        self._done = threading.Event()

    def run(self) -> None:
        while self.available and not self._done.is_set():
            totals = [_memory_of(pid) for pid in _tree(self.root)]
            self.peak_pss = max(self.peak_pss, sum(p for p, _ in totals))
            self.peak_rss = max(self.peak_rss, sum(r for _, r in totals))
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run(extra_pytest_args: str = "") -> dict:
    """Run ``make test`` with the timing plugin; return the measurements (and its exit status)."""
    with tempfile.TemporaryDirectory() as tmp:
        timing_file = Path(tmp) / "timing.json"
        env = {**os.environ, TIMING_ENV_VAR: str(timing_file)}
        pytest_args = f"-p benchmarks.pytest_timing {extra_pytest_args}".strip()
        started = time.monotonic()
        child = subprocess.Popen(["make", "test", f"PYTEST_ARGS={pytest_args}"], env=env)
        memory = TreeMemory(child.pid)
        memory.start()
        status = child.wait()
        wall = time.monotonic() - started
        memory.stop()
        files = json.loads(timing_file.read_text()) if timing_file.exists() else {}
    notebooks = {path: s for path, s in files.items() if path.endswith(".ipynb")}
    return {
        "status": status,
        "wall_s": wall,
        "notebooks_s": notebooks,
        "tests_s": sum(s for path, s in files.items() if not path.endswith(".ipynb")),
        "peak_pss_gib": memory.peak_pss / GIB if memory.available else None,
        "peak_rss_gib": memory.peak_rss / GIB if memory.available else None,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def report(result: dict) -> str:
    """The measurements as Markdown, with each target marked PASS or FAIL."""
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    notebooks_total = sum(result["notebooks_s"].values())
    lines = [
        f"`make test` exit status {result['status']}; {platform.platform()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; load average after the run "
        f"{' / '.join(f'{x:.1f}' for x in result['load_average'] or ())}",
        "",
        "| notebook (nbval, fast mode, kernel start included) | seconds |",
        "| --- | ---: |",
        *[f"| `{Path(path).stem}` | {s:.1f} |" for path, s in sorted(result["notebooks_s"].items())],
        f"| all notebooks | {notebooks_total:.1f} |",
        "",
        f"- [{verdict(result['wall_s'] < TARGETS['whole'])}] the whole `make test`: "
        f"{result['wall_s'] / 60:.1f} min (target < {TARGETS['whole'] // 60} min; unit tests "
        f"{result['tests_s']:.0f} s, notebooks {notebooks_total:.0f} s, the rest set-up, lint and start-up)",
        f"- [{verdict(notebooks_total < TARGETS['notebooks'])}] all notebooks under nbval: "
        f"{notebooks_total / 60:.1f} min (target < {TARGETS['notebooks'] // 60} min)",
    ]
    if result["peak_pss_gib"] is None:
        lines.append("- [info] peak memory not measured (needs Linux's /proc)")
    else:
        lines.append(
            f"- [{verdict(result['peak_pss_gib'] < TARGETS['memory_gib'])}] peak memory of the run, all its "
            f"processes together: {result['peak_pss_gib']:.2f} GiB PSS ({result['peak_rss_gib']:.2f} GiB "
            f"summed RSS, which counts shared libraries once per process) (target < {TARGETS['memory_gib']:.0f} GiB)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.test_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pytest-args", default="", help="passed on to pytest (e.g. '-k conv')")
    parser.add_argument("--json", help="also write the raw measurements to this file")
    args = parser.parse_args(argv)
    result = run(extra_pytest_args=args.pytest_args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    print(report(result))
    return result["status"]


if __name__ == "__main__":
    sys.exit(main())
