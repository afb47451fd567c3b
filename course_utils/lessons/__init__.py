"""The lessons: small, exact helpers for notebooks 01–05, one idea per module.

- ``conv``: output sizes, window positions, a convolution by hand (01).
- ``pooling``: max and average pooling by hand (02).
- ``summary``: per-layer table, parameter and FLOP counts (03).
- ``receptive_field``: the receptive-field recurrence, checked by a gradient (04).
- ``architectures``: the notes' first CNN, plain and residual networks (05).
- ``pictures``: a real photograph offline, and drawings of tensors and windows.
- ``explorers``: ipywidgets sliders over the functions above.
"""
