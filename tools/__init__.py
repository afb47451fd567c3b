"""Maintenance tools for the course's notebooks (not imported by the notebooks themselves).

- :mod:`tools.launch_links`: Colab and Binder badges and the Colab install cell.
- :mod:`tools.slides`: slide metadata for RISE and ``jupyter nbconvert --to slides``.
- :mod:`tools.notebook_chrome`: applies both to every notebook and the README (``make chrome``).
"""
