"""The notebooks' run times come from one table (tools/run_times.py, notebooks/times.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from tools.notebook_chrome import notebook_paths
from tools.run_times import (
    COURSE_TABLE_MARKER,
    README_MARKERS,
    RUN_TIME_MARKER,
    TIMES_PATH,
    NotebookTimes,
    about_line,
    course_table,
    load_times,
    main,
    readme_table,
    run_time_line,
    stated_times,
    update_readme,
    with_times,
    without_times,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = notebook_paths(ROOT)

RUN_TIME_PENDING: set[str] = set()
"""Notebooks that still type their time; their owners adopt the generated line (write a line
``<!-- run-time -->`` in the title cell, run ``python -m tools.run_times``) and remove them here."""


def test_the_readme_table_and_the_notebooks_times_are_generated_from_the_times_table():
    assert main(["--check"]) == 0, "README.md or a notebook's times are out of date: run `python -m tools.run_times`"


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="its owner adopts the generated run-time line"))
    if p.name[:2] in RUN_TIME_PENDING else p for p in NOTEBOOKS], ids=lambda p: p.stem[:2])
def test_each_notebook_states_its_time_in_the_generated_line_only(path):
    title = nbformat.read(path, as_version=4).cells[0]
    assert title.source.startswith("# ")
    lines = [line for line in title.source.splitlines() if line.endswith(RUN_TIME_MARKER)]
    assert lines == [f"{run_time_line(path.stem)} {RUN_TIME_MARKER}"], "the title cell needs the generated line"
    typed = [line for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"
             for line in c.source.splitlines() if "Time to run" in line and not line.endswith(RUN_TIME_MARKER)]
    assert typed == [], "a run time typed by hand"


def test_00s_course_table_is_the_generated_one_and_lists_every_notebook():
    cells = nbformat.read(ROOT / "notebooks" / "00-start-here.ipynb", as_version=4).cells
    (cell,) = [c for c in cells if COURSE_TABLE_MARKER in c.source]
    assert f"{COURSE_TABLE_MARKER}\n{course_table()}\n" in cell.source
    for path in NOTEBOOKS:
        assert f"[`{path.stem}`]({path.name})" in cell.source


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
    assert about_line("05", [row], "zh_CN") == "在笔记本电脑的 CPU 上约 4 分钟"
    assert about_line("00", rows, "zh_CN") == "在笔记本电脑的 CPU 上不到 1 分钟"
    with pytest.raises(KeyError, match="not in times.json"):
        about_line("42", rows)
    with pytest.raises(ValueError, match="no run-time template for 'fr'"):
        about_line("00", rows, "fr")


def test_the_course_table_lists_every_notebook_with_the_readme_figure():
    rows = load_times()
    table = course_table(rows)
    readme_rows = {line.split(" | ")[0]: line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")}
    for row in rows:
        line = about_line(row.notebook, rows)
        about = line.removesuffix(" on a laptop CPU")
        assert f"| [`{row.notebook}`]({row.notebook}.ipynb) | {row.topic} | {row.teaching_min:g} min | {about} |" in table
        assert f"| {line} |" in readme_rows[f"| `{row.notebook}`"]
    chinese = course_table(rows, "zh_CN", topics={rows[1].notebook: "一次卷积"}, links={rows[0].notebook: "../x.ipynb"})
    assert chinese.splitlines()[0] == "| 笔记本 | 主题 | 课堂时间（估计） | 完整运行（笔记本电脑的 CPU） |"
    assert f"| [`{rows[0].notebook}`](../x.ipynb) | {rows[0].topic} |" in chinese
    assert f"| [`{rows[1].notebook}`]({rows[1].notebook}.ipynb) | 一次卷积 | {rows[1].teaching_min:g} 分钟 |" in chinese


def test_the_generated_lines_follow_the_times_table_and_translations_keep_only_the_markers():
    rows = [NotebookTimes("00-a", "set-up", 10, 3.2, 7, "-"), NotebookTimes("05-b", "a first CNN", 90, 10.5, 210, "-")]
    cell = f"# 05 · B\n\nIntro.\n\n{RUN_TIME_MARKER}"
    written = with_times(cell, "05-b", rows)
    assert written == f"# 05 · B\n\nIntro.\n\n**Time to run:** about 4 min on a laptop CPU, for a full run from top to bottom. {RUN_TIME_MARKER}"
    assert with_times(written, "05-b", rows) == written and without_times(written) == cell
    slower = [rows[0], NotebookTimes("05-b", "a first CNN", 90, 10.5, 400, "-")]
    assert "about 7 min" in with_times(written, "05-b", slower), "a new measurement rewrites the line"
    assert with_times(written, "05-b", rows, "zh_CN").endswith(
        f"**运行时间**：从头到尾完整运行一遍，在笔记本电脑的 CPU 上约 4 分钟。 {RUN_TIME_MARKER}")
    layout = f"## The course\n\n{COURSE_TABLE_MARKER}\n\nRun them in order."
    table = with_times(layout, "00-a", rows)
    assert table == f"## The course\n\n{COURSE_TABLE_MARKER}\n{course_table(rows)}\n\nRun them in order."
    assert with_times(table, "00-a", rows) == table and without_times(table) == layout
    assert with_times("No marker, 7 s.", "00-a", []) == "No marker, 7 s."


def test_a_stale_line_in_a_notebook_is_found_and_rewritten(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    path = folder / "00-start-here.ipynb"
    shutil.copy(ROOT / "notebooks" / "00-start-here.ipynb", path)
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", readme)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].source = notebook.cells[0].source.replace("under 1 min", "about 3 min")
    nbformat.write(notebook, path)
    args = ["--readme", str(readme), "--notebooks", str(folder)]
    assert main(["--check", *args]) == 1
    assert main(args) == 0 and main(["--check", *args]) == 0
    assert nbformat.read(path, as_version=4).cells[0].source == nbformat.read(
        ROOT / "notebooks" / "00-start-here.ipynb", as_version=4).cells[0].source


def test_a_notebook_may_state_its_own_times_and_00_every_row_of_its_course_table():
    rows = [NotebookTimes("00-a", "a", 10, 3.2, 7, "-"), NotebookTimes("05-b", "b", 90, 10.5, 210, "-", cpu_warm_s=41)]
    assert stated_times("05-b", rows) == [10.5, 210, 5400, 41, 240]
    assert stated_times("00-a", rows, course_map=True) == [3.2, 7, 600, 60, 5400, 240]


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
