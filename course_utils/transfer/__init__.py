"""Transfer learning: the two-stage recipe, cached features, the one orchestrator, the freezing experiment.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
