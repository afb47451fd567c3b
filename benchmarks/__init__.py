"""Benchmarks of the course's training path against the lecture notes' loop (``python -m benchmarks``).

Not part of the course: :mod:`benchmarks.baseline` keeps the notes' loop as the reference to
measure against; :mod:`benchmarks.sides` runs both sides; ``benchmarks/RESULTS.md`` records
what was measured, on which machine and when.
"""
