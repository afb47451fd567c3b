"""The training loop and what it needs: batches, history, resume, randomness, schedules, the range test, torchrun.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
