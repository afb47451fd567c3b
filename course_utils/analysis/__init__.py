"""What a trained model tells: predictions, confusions, calibration, Grad-CAM, activations, plots, seeds and noise.

The map of every module, one line each, is the docstring of :mod:`course_utils`.
"""

__all__: list[str] = []  # a map, not an API: import the modules by name
