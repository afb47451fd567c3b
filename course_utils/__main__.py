"""``python -m course_utils train|evaluate|predict ...``: the command line (:mod:`course_utils.command.main`).

Also ``torchrun --nproc_per_node=N -m course_utils train ...`` for several processes.
"""

from __future__ import annotations

from course_utils.command.main import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
