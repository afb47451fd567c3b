"""Maintenance tools for the course's notebooks (run with ``python -m tools.NAME``; not imported by the notebooks).

- :mod:`tools.launch_links`: Colab and Binder badges and the Colab install cell.
- :mod:`tools.slides`: slide metadata for RISE and ``jupyter nbconvert --to slides``.
- :mod:`tools.notebook_chrome`: applies both to every notebook and the README (``make chrome``).
- :mod:`tools.clean_notebook`: finished progress bars, no timestamps (after a full run).
- :mod:`tools.execute_notebooks`: the committed full run (``make notebooks``).
- :mod:`tools.build_notebooks`: the learners' and instructors' copies of both editions (``make student``).
- :mod:`tools.i18n`: the Chinese edition: catalogs, glossary, ``notebooks/zh_CN/`` (``make translations``).
- :mod:`tools.run_times`: the run times from ``notebooks/times.json``: the README's table, each
  notebook's generated "Time to run" line and notebook 00's course table (both editions).
- :mod:`tools.figures`: the figures a text states or prints (percentages, decimals, times, ratios).
- :mod:`tools.claims_check`: every figure in a notebook's prose was printed, typed or is in the notes.
"""
