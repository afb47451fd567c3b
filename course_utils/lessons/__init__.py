"""The lessons: small, exact helpers for notebooks 01–05, one idea per module.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
