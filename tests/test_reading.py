"""The further reading is listed once (course_utils/reading.py) and rendered into both READMEs."""

from __future__ import annotations

import re

import pytest

from course_utils.reading import READING, reading_markdown
from tools.reading_list import README_MARKERS, READMES, main, update_readme


def test_the_readme_holds_the_packages_reading_list():
    assert main(["--check"]) == 0, "a README's further reading is out of date: run `python -m tools.reading_list`"


def test_both_readmes_hold_the_list_under_their_own_lead():
    assert [path.name for path in READMES] == ["README.md", "README.zh-CN.md"]
    leads = []
    for path in READMES:
        text = path.read_text(encoding="utf-8")
        assert f"{README_MARKERS[0]}\n{reading_markdown()}{README_MARKERS[1]}" in text, path.name
        leads.append(text.split(README_MARKERS[0])[0].rstrip().splitlines()[-1])
    english, chinese = leads
    assert "papers" in english and "论文" in chinese and "course_utils/reading.py" in chinese


def test_the_check_covers_the_chinese_readme(tmp_path, capsys):
    start, end = README_MARKERS
    readmes = [tmp_path / "README.md", tmp_path / "README.zh-CN.md"]
    for path, lead in zip(readmes, ("The papers:", "论文："), strict=True):
        path.write_text(f"# x\n\n{lead}\n\n{start}\n{reading_markdown()}{end}\n", encoding="utf-8")
    args = [arg for path in readmes for arg in ("--readme", str(path))]
    assert main(["--check", *args]) == 0
    readmes[1].write_text(readmes[1].read_text(encoding="utf-8").replace("*动手学深度学习*", "*动手学*"),
                          encoding="utf-8")
    assert main(["--check", *args]) == 1
    assert "README.zh-CN.md" in capsys.readouterr().err
    assert main(args) == 0 and main(["--check", *args]) == 0
    assert "论文：" in readmes[1].read_text(encoding="utf-8")


def test_the_check_fails_on_a_readme_edited_by_hand(tmp_path):
    start, end = README_MARKERS
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{start}\n- a paper typed by hand\n{end}\n", encoding="utf-8")
    assert main(["--check", "--readme", str(readme)]) == 1
    assert main(["--readme", str(readme)]) == 0
    assert main(["--check", "--readme", str(readme)]) == 0
    assert reading_markdown() in readme.read_text(encoding="utf-8")


def test_a_readme_without_its_markers_is_a_clear_error():
    with pytest.raises(ValueError, match="further-reading"):
        update_readme("# no markers here\n")
    with pytest.raises(ValueError, match="README.zh-CN.md must hold"):
        update_readme("# 没有标记\n", name="README.zh-CN.md")


def test_every_entry_has_a_stable_link_and_says_where_the_course_uses_it():
    lines = reading_markdown().splitlines()
    assert len(lines) == len(READING)
    for entry, line in zip(READING, lines, strict=True):
        assert entry.url.startswith("https://"), entry
        assert re.match(r"^\d\d", entry.used_in), f"{entry.title}: say which notebooks use it"
        assert line.startswith("- ") and entry.url in line and "\n" not in line
        assert ".." not in line and "?*." not in line


@pytest.mark.parametrize("paper", ["LeNet", "AlexNet", "VGG", "ResNet", "Flowers-102", "Grad-CAM",
                                   "Do better ImageNet models transfer better?", "label smoothing",
                                   "When does label smoothing help?", "calibration", "EfficientNet",
                                   "zh.d2l.ai", "cs231n"])
def test_the_papers_the_course_rests_on_are_listed(paper):
    assert paper.lower() in reading_markdown().lower()
