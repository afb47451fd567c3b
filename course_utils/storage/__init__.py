"""Files that survive crashes: checkpoints, atomic folders, caches, image files as they come.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
