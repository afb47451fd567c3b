"""Maintenance commands for the course (run with ``python -m tools.NAME``); not part of the package."""
