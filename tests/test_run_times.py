"""The notebooks' run times come from one table (tools/run_times.py, notebooks/times.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.notebook_chrome import notebook_paths
from tools.run_times import (
    README_MARKERS,
    TIMES_PATH,
    NotebookTimes,
    about_line,
    course_table,
    load_times,
    main,
    readme_table,
    stated_times,
    update_readme,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_table_is_generated_from_the_times_table():
    assert main(["--check"]) == 0, "README.md's times table is out of date: run `python -m tools.run_times`"


def test_every_notebook_has_one_row_in_order():
    assert [row.notebook for row in load_times()] == [path.stem for path in notebook_paths(ROOT)]


def test_the_row_all_is_computed():
    rows = [
        NotebookTimes("00-a", "a", 10, 3.25, 7, "not measured"),
        NotebookTimes("01-b", "b", 170, 4.4, 600, "not measured", cpu_warm_s=180, cpu_warm_note="warm",
                      cpu_once_s=1200, cpu_once_note="once for an experiment"),
    ]
    table = readme_table(rows)
    assert table.splitlines()[-1] == "| all | | about 3 h | 7.7 s | 10.1 min cold (+ 20 min once) | | not measured |"
    assert "| 10 min cold; 3 min warm (+ 20 min once for an experiment) | about 10 min on a laptop CPU |" in table


def test_the_about_line_rounds_the_cold_run_to_whole_minutes():
    rows = load_times()
    assert about_line("00", rows) == "under 1 min on a laptop CPU"
    row = NotebookTimes("05-x", "x", 90, 10.5, 210, "not measured")
    assert about_line("05-x", [row]) == "about 4 min on a laptop CPU"  # 3.5 min rounds half up
    assert about_line("05", [row]) == about_line("05-x", [row])
    with pytest.raises(KeyError, match="not in times.json"):
        about_line("42", rows)


def test_the_course_table_lists_every_notebook_with_the_readme_figure():
    rows = load_times()
    table = course_table(rows)
    readme_rows = {line.split(" | ")[0]: line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")}
    for row in rows:
        line = about_line(row.notebook, rows)
        assert f"| `{row.notebook}` | {row.topic} | {line} |" in table
        assert f"| {line} |" in readme_rows[f"| `{row.notebook}`"]


def test_a_notebook_may_state_its_own_times_and_00_every_about_line():
    rows = [NotebookTimes("00-a", "a", 10, 3.2, 7, "-"), NotebookTimes("05-b", "b", 90, 10.5, 210, "-", cpu_warm_s=41)]
    assert stated_times("05-b", rows) == [10.5, 210, 5400, 41, 240]
    assert stated_times("00-a", rows, course_map=True) == [3.2, 7, 600, 60, 240]


def test_the_readme_markers_are_required(tmp_path):
    with pytest.raises(ValueError, match="times-table"):
        update_readme("no table here", load_times())
    readme = f"intro\n{README_MARKERS[0]}\nhand-written\n{README_MARKERS[1]}\noutro\n"
    updated = update_readme(readme, load_times())
    assert updated.startswith("intro\n") and updated.endswith("\noutro\n") and "hand-written" not in updated
    assert update_readme(updated, load_times()) == updated
    path = tmp_path / "README.md"
    path.write_text(readme)
    assert main(["--check", "--readme", str(path)]) == 1 and path.read_text() == readme
    assert main(["--readme", str(path)]) == 0 and path.read_text() == updated


def test_a_bad_row_says_what_is_wrong(tmp_path):
    data = json.loads(TIMES_PATH.read_text())
    data["notebooks"][0]["cpu_full_min"] = 1
    path = tmp_path / "times.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"unknown fields \['cpu_full_min'\]"):
        load_times(path)
    del data["notebooks"][0]["cpu_full_min"]
    data["notebooks"][0]["cpu_full_note"] = "about 7 s under load"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="states"):
        load_times(path)
