"""The command line: options generated from the recipe, one-line errors, evaluate and predict from a checkpoint.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
