"""Models by name: one record per model, heads, the offline EfficientNet-Lites, ensembles, the frozen backbone.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
