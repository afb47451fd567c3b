"""The Chinese edition (tools/i18n): complete, current, and the same code as the English one.

The edition is checked as a whole (``python -m tools.i18n check``: every translated notebook's
catalog has a current, non-fuzzy translation of every markdown cell, nothing obsolete, and
``notebooks/zh_CN/`` is what the build writes now); the machinery is checked on a copy of the
repository, where a test changes, adds and removes English cells and watches the check fail,
naming the cell, until the translation follows.

The Chinese notebooks are not run under nbval by ``make test``: their code cells and outputs are
the English notebooks', which nbval runs. What differs is run here: the language cell and the
exercises, whose checks must answer in Chinese (``make test-zh`` runs every cell, if you want it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import nbformat
import polib
import pytest

from tools.i18n.catalogs import Source, merge, new_catalog, translation_problems
from tools.i18n.commands import build, check, status, update
from tools.i18n.editions import CHECK_CELL, LANGUAGE_TAG, code_differences
from tools.i18n.glossary import (
    Glossary,
    GlossaryError,
    Term,
    english_key_terms,
    is_key_terms_cell,
    parse_key_terms,
    read_glossary,
    table,
)
from tools.i18n.layout import (
    catalog_path,
    edition_path,
    glossary_path,
    notes_path,
    translated_notebooks,
)
from tools.launch_links import BADGES_TAG, repository
from tools.run_times import (
    COURSE_TABLE_MARKER,
    RUN_TIME_MARKER,
    about_line,
    load_times,
    run_time_line,
    update_notebook,
)

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = translated_notebooks(ROOT)
NOTES = notes_path(ROOT)
CJK = re.compile(r"[\u4e00-\u9fff]")
needs_notes = pytest.mark.skipif(not NOTES.exists(), reason=f"the lecture notes are not at {NOTES}")


def _ids(paths):
    return [p.stem[:2] for p in paths]


# --- the edition as committed -------------------------------------------------------------------


def test_the_pilot_notebook_is_in_the_edition():
    assert [p.name for p in TRANSLATED][:1] == ["00-start-here.ipynb"]


def test_the_chinese_edition_is_complete_and_current():
    """Fails, naming notebook and cell, on anything missing, fuzzy, obsolete or not rebuilt."""
    problems = check(ROOT, notes=NOTES if NOTES.exists() else None)
    assert not problems, "\n".join(["run `make translations` and translate what it lists:", *problems])


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_code_cells_and_outputs_are_the_english_ones(english):
    assert code_differences(english, edition_path(english, ROOT)) == []


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_no_markdown_cell_is_left_in_english(english):
    source = nbformat.read(english, as_version=4)
    translated = nbformat.read(edition_path(english, ROOT), as_version=4)
    english_text = {c.id: c.source for c in source.cells if c.cell_type == "markdown"}
    left = [c.id for c in translated.cells if c.cell_type == "markdown" and BADGES_TAG not in c.metadata.get("tags", [])
            and (c.source == english_text[c.id] or not CJK.search(c.source))]
    assert left == [], f"{english.name}: cells not translated: {left}"


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_every_chinese_cell_renders_its_emphasis(english):
    """CommonMark does not close ``**…：**`` before a Chinese character: the asterisks would show.

    A Chinese cell shows no more asterisks than its English cell (the notes' quotes write products
    as ``28 * 28 * 6``, and those asterisks show in both editions)."""
    import mistune

    def asterisks(cells):
        return {c.id: re.sub(r"<code>.*?</code>", "", mistune.html(c.source), flags=re.S).count("*")
                for c in cells if c.cell_type == "markdown"}

    english_counts = asterisks(nbformat.read(english, as_version=4).cells)
    shown = asterisks(nbformat.read(edition_path(english, ROOT), as_version=4).cells)
    stray = {i: count for i, count in shown.items() if count > english_counts.get(i, 0)}
    assert stray == {}


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_the_key_terms_tables_are_written_from_the_glossary(english):
    glossary = read_glossary(glossary_path(ROOT))
    source = next(c for c in nbformat.read(english, as_version=4).cells if is_key_terms_cell(c))
    translated = next(c for c in nbformat.read(edition_path(english, ROOT), as_version=4).cells if is_key_terms_cell(c))
    terms = [glossary.find(name) for name, _ in parse_key_terms(source.source).rows]
    assert terms, "a key-terms table without terms"
    english_rows = [r for r in source.source.splitlines() if r.startswith("| ")][2:]
    chinese_rows = [r for r in translated.source.splitlines() if r.startswith("| ")][2:]
    for term, english_row, chinese_row in zip(terms, english_rows, chinese_rows, strict=True):
        assert english_row.startswith(f"| {term.en} | {term.zh}"), english_row
        assert chinese_row.startswith(f"| {term.zh}") and f"| {term.en} |" in chinese_row, chinese_row


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_each_chinese_notebook_links_to_itself_and_sets_its_language_first(english):
    path = edition_path(english, ROOT)
    own = path.relative_to(ROOT).as_posix()
    repo = repository(ROOT)
    cells = nbformat.read(path, as_version=4).cells
    badges = next(c for c in cells if BADGES_TAG in c.metadata.get("tags", []))
    links = re.findall(r"\]\((https://[^)\s]+)\)", badges.source)
    assert repo.colab(own) in links
    assert any(unquote(link).endswith(f"labpath={own}") for link in links)
    code = [c for c in cells if c.cell_type == "code"]
    assert LANGUAGE_TAG in code[1].metadata["tags"] and 'set_language("zh_CN")' in code[1].source
    assert code[1].outputs == []
    checks = [c for c in code if CHECK_CELL.match(c.source)]
    assert checks and all("nbval-ignore-output" in c.metadata["tags"] for c in checks)


def test_the_readmes_link_to_each_other():
    assert "(README.zh-CN.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "(README.md)" in chinese
    for path in TRANSLATED:
        assert f"({edition_path(path, ROOT).relative_to(ROOT).as_posix()})" in chinese


def test_the_zh_notebooks_are_left_out_of_the_default_nbval_run():
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert "00-start-here.ipynb::" in collected.stdout, collected.stdout[-2000:]
    assert "zh_CN" not in collected.stdout


# --- what differs from the English is run: the language cell and the checks ---------------------


def _exercise_section(english: nbformat.NotebookNode, translated: nbformat.NotebookNode) -> list:
    """The Chinese notebook's cells from the English "## Exercises" cell on (found by its id)."""
    start = next(c.id for c in english.cells if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    return translated.cells[next(i for i, c in enumerate(translated.cells) if c.get("id") == start):]


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_the_chinese_checks_answer_in_chinese_as_the_english_ones_answer(english, monkeypatch, tmp_path):
    """Run the language cell and the exercise section (it runs on its own) in a kernel."""
    from nbclient import NotebookClient

    translated = nbformat.read(edition_path(english, ROOT), as_version=4)
    language = next(c for c in translated.cells if LANGUAGE_TAG in c.metadata.get("tags", []))
    section = [c for c in _exercise_section(nbformat.read(english, as_version=4), translated) if c.cell_type == "code"]
    checks = [c for c in section if CHECK_CELL.match(c.source)]
    committed = ["".join(o.get("text", "") for o in c.outputs) for c in checks]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.source) for c in [language, *section]])
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = ["".join(o.get("text", "") for o in c.outputs)
               for c in notebook.cells[1:] if CHECK_CELL.match(c.source)]
    assert len(printed) == len(committed) >= 2
    for english_text, chinese_text in zip(committed, printed, strict=True):
        assert chinese_text[:1] == english_text[:1], (english_text, chinese_text)  # ✓, ✗ or …
        assert CJK.search(chinese_text) and chinese_text != english_text, chinese_text


# --- the glossary -------------------------------------------------------------------------------


def test_the_glossary_reads_and_names_each_term_once():
    glossary = read_glossary(glossary_path(ROOT))
    assert len(glossary.terms) >= 50
    for term in ("kernel", "feature map", "stride", "zero padding", "receptive field", "pooling",
                 "fully connected layer", "transfer learning", "freeze", "learning-rate decay"):
        assert term in glossary
    assert glossary.find("padding").zh == "边缘填充" and glossary.find("filter").zh == "卷积核"


@needs_notes
def test_the_notes_terms_are_the_notes_words_verbatim():
    notes = NOTES.read_text(encoding="utf-8")
    glossary = read_glossary(glossary_path(ROOT))
    wrong = [(t.en, t.zh) for t in glossary.terms if t.source == "notes" and t.zh not in notes]
    wrong += [(t.en, t.notes) for t in glossary.terms if t.notes and t.notes not in notes]
    assert wrong == []
    assert {"卷积核", "特征图", "步长", "感受野", "池化", "全连接层", "迁移学习", "冻住"} <= {t.zh for t in glossary.terms}


@pytest.mark.parametrize("text, message", [
    ("en\tzh\n", "the first row must be the header"),
    ("en\talso\tzh\tnotes\tsource\nstride\t\t步长\tnotes\n", "4 fields, expected 5"),
    ("en\talso\tzh\tnotes\tsource\nstride\t\t步长\t\twikipedia\n", "source must be notes, course or d2l"),
    ("en\talso\tzh\tnotes\tsource\nstride\t\t步长\t\tnotes\nstep\tstride\t步长\t\tnotes\n", "names 'stride' twice"),
])
def test_a_bad_glossary_is_refused_with_what_to_fix(tmp_path, text, message):
    path = tmp_path / "glossary.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GlossaryError, match=re.escape(message)):
        read_glossary(path)


def test_an_unknown_term_names_the_closest_and_the_glossary():
    glossary = Glossary([Term("feature map", "特征图"), Term("kernel", "卷积核", ("filter",), "Filter")])
    with pytest.raises(GlossaryError, match=r"'feature maps' is not in i18n/glossary.tsv.*Closest: 'feature map'"):
        glossary.find("feature maps")


def test_a_key_terms_table_is_written_from_the_glossary_in_both_languages():
    glossary = Glossary([Term("kernel", "卷积核", ("kernel / filter",), "Filter"),
                         Term("dilation", "膨胀", source="course"),
                         Term("learning-rate decay", "学习率衰减", (), "学习率的衰减函数", "d2l:chapter_optimization/lr-scheduler.md")])
    source = ("## Key terms\n\n| English | 中文 | meaning here |\n| --- | --- | --- |\n"
              "| kernel / filter | 卷积核 | weights |\n| dilation | — | gaps |\n| learning-rate decay | ? | lower |")
    english = english_key_terms(glossary, source)
    assert english.splitlines()[4:] == [
        "| kernel | 卷积核 (Filter) | weights |",
        "| dilation | 膨胀 (not in the notes or zh.d2l.ai) | gaps |",
        "| learning-rate decay | 学习率衰减 (zh.d2l.ai; the notes: 学习率的衰减函数) | lower |",
    ]
    assert english_key_terms(glossary, english) == english  # idempotent
    key_terms = parse_key_terms(english)
    chinese = table(glossary, key_terms, "zh_CN", {"kernel": "权重"})
    assert chinese.splitlines()[2:] == [
        "| 卷积核（Filter） | kernel | 权重 |",
        "| 膨胀（笔记与 zh.d2l.ai 均未提及） | dilation | gaps |",
        "| 学习率衰减（取自 zh.d2l.ai；笔记原文：学习率的衰减函数） | learning-rate decay | lower |",
    ]


# --- catalogs: merge like msgmerge, keyed by cell id ---------------------------------------------


def _catalog(*entries: tuple[str, str, str]) -> polib.POFile:
    catalog = new_catalog("test", "zh_CN")
    for ctxt, msgid, msgstr in entries:
        catalog.append(polib.POEntry(msgctxt=ctxt, msgid=msgid, msgstr=msgstr))
    return catalog


def test_a_changed_cell_turns_fuzzy_and_keeps_the_english_it_was_translated_from():
    old = _catalog(("a", "One kernel.", "一个卷积核。"), ("b", "Two maps.", "两个特征图。"))
    merged = merge(old, [Source("a", "One kernel, 3×3."), Source("b", "Two maps.")])
    a, b = merged.find("One kernel, 3×3.", msgctxt="a"), merged.find("Two maps.", msgctxt="b")
    assert a.fuzzy and a.previous_msgid == "One kernel." and a.msgstr == "一个卷积核。"
    assert not b.fuzzy and b.msgstr == "两个特征图。"
    again = merge(merged, [Source("a", "One kernel, 5×5."), Source("b", "Two maps.")])
    assert again.find("One kernel, 5×5.", msgctxt="a").previous_msgid == "One kernel.", "the first English stays"


def test_a_removed_cell_turns_obsolete_and_a_recreated_one_takes_its_translation_back():
    old = _catalog(("a", "One kernel.", "一个卷积核。"), ("b", "Two feature maps, side by side.", "两个特征图，并排。"), ("c", "New.", ""))
    merged = merge(old, [Source("a", "One kernel.")])
    assert [e.msgctxt for e in merged.obsolete_entries()] == ["b"], "an untranslated entry just goes"
    back = merge(merged, [Source("a", "One kernel."), Source("z", "Two feature maps, side by side.")])
    assert back.find("Two feature maps, side by side.", msgctxt="z").msgstr == "两个特征图，并排。" and not back.obsolete_entries()
    moved = merge(old, [Source("a", "One kernel."), Source("y", "Two feature maps, side by side, then pooled.")])
    y = moved.find("Two feature maps, side by side, then pooled.", msgctxt="y")
    assert y.fuzzy and y.msgstr == "两个特征图，并排。", "a similar new cell inherits the translation, fuzzy"
    assert not merge(old, [Source("a", "One kernel."), Source("x", "Something else entirely.")]).find(
        "Something else entirely.", msgctxt="x").msgstr, "a different new cell starts untranslated"
    assert merge(merged, [Source("a", "One kernel.")], prune=True).obsolete_entries() == []


@pytest.mark.parametrize("msgid, msgstr, lost", [
    ("Call `conv2d` on a 7×7 input.", "在 7×7 的输入上调用 conv2d。", "code"),
    ("It takes 7 seconds.", "只需几秒。", "number"),
    ("The notes: “一次卷积是不够的”.", "笔记说：一次卷积不够。", "quote of the notes"),
    ("## Summary", "小结", "heading level"),
    ("**1. By hand.** Do it.", "**手算。** 做吧。", "exercise number"),
    ("The size is $H_2$.", "尺寸是 H2。", "formula"),
    ("See [the docs](https://pytorch.org).", "见文档。", "link"),
    ("**Time to run:** 7 seconds.", "**运行时间：**7 秒。", "emphasis marks"),
])
def test_a_translation_that_drops_code_numbers_or_quotes_is_a_problem(msgid, msgstr, lost):
    problems = translation_problems(msgid, msgstr)
    assert any(lost in p for p in problems), problems


def test_a_faithful_translation_is_no_problem():
    msgid = "## Stride\n\nA **3×3** kernel on a `7×7` input at stride 2 gives $3$ outputs (the notes: “步长为2”)."
    msgstr = "## 步长\n\n步长为 2 时，**3×3** 的卷积核在 `7×7` 的输入上给出 $3$ 个输出（笔记：“步长为2”）。"
    assert translation_problems(msgid, msgstr) == []


# --- the whole loop, on a copy of the repository --------------------------------------------------


@pytest.fixture
def repo(tmp_path) -> Path:
    """A copy of what the tool reads and writes: pyproject, README, the package, the notebooks, i18n/."""
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("pyproject.toml", "README.md", "README.zh-CN.md"):
        shutil.copy(ROOT / name, copy / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "course_utils", copy / "course_utils", ignore=ignore)
    shutil.copytree(ROOT / "i18n", copy / "i18n")
    (copy / "notebooks" / "zh_CN").mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "times.json", copy / "notebooks")
    for english in TRANSLATED:
        shutil.copy(english, copy / "notebooks")
        shutil.copy(edition_path(english, ROOT), copy / "notebooks" / "zh_CN")
    return copy


def _edit(path: Path, change) -> None:
    notebook = nbformat.read(path, as_version=4)
    change(notebook.cells)
    nbformat.write(notebook, path)


def _cell(cells, cell_id):
    return next(c for c in cells if c.get("id") == cell_id)


PILOT = "00-start-here.ipynb"
CELL = "61f206d4"  # "The lines above depend on your machine…"


def test_the_copy_checks_clean(repo):
    assert check(repo) == []
    assert update(repo) == [] and build(repo) == [], "a second run changes nothing"


def test_changing_one_english_cell_fails_naming_it_until_it_is_translated_again(repo):
    english = repo / "notebooks" / PILOT
    _edit(english, lambda cells: setattr(_cell(cells, CELL), "source", _cell(cells, CELL).source + "\n\nOne more line."))
    problems = check(repo)
    assert any(f"notebooks/{PILOT}, cell {CELL}: the English changed" in p for p in problems), problems
    assert any(p.startswith(f"notebooks/zh_CN/{PILOT}: not what the build writes now") for p in problems), problems

    changed = update(repo)
    assert f"i18n/zh_CN/{PILOT[:-6]}.po" in changed
    catalog = polib.pofile(str(catalog_path(english, repo)))
    entry = next(e for e in catalog if e.msgctxt == CELL)
    assert entry.fuzzy and entry.previous_msgid and "One more line." not in entry.previous_msgid
    build(repo)
    problems = check(repo)
    assert len(problems) == 1 and f"cell {CELL}: fuzzy" in problems[0], problems
    assert f"{PILOT} cell {CELL} [fuzzy]" in status(repo)
    translated = nbformat.read(edition_path(english, repo), as_version=4)
    assert _cell(translated.cells, CELL).source.endswith("One more line."), "fuzzy: the English is shown"

    entry.msgstr += "\n\n再多一行。"
    entry.flags.remove("fuzzy")
    entry.previous_msgid = None
    catalog.save(str(catalog_path(english, repo)))
    assert check(repo)[0].endswith("not what the build writes now; run `make translations`")
    build(repo)
    assert check(repo) == []
    assert _cell(nbformat.read(edition_path(english, repo), as_version=4).cells, CELL).source.endswith("再多一行。")


def test_a_new_cell_is_missing_then_untranslated_and_a_removed_one_obsolete(repo):
    english = repo / "notebooks" / PILOT

    def add(cells):
        cell = nbformat.v4.new_markdown_cell("A new paragraph about pooling.")
        cell.id = "new-cell"
        cells.insert(6, cell)
        cells.remove(_cell(cells, "30fb6fd5"))

    _edit(english, add)
    problems = check(repo)
    assert any("cell new-cell: missing from the catalog (“A new paragraph about pooling.”)" in p for p in problems)
    assert any("entry 30fb6fd5 is in the catalog but not in the English" in p for p in problems)
    update(repo)
    build(repo)
    problems = check(repo)
    assert sorted(problems) == sorted([
        f"notebooks/{PILOT}, cell new-cell: not translated (“A new paragraph about pooling.”)",
        f"notebooks/{PILOT}: obsolete entry 30fb6fd5 (its English is gone): delete it, or run "
        "`python -m tools.i18n update --prune`",
    ])
    update(repo, prune=True)
    assert not any("obsolete" in p for p in check(repo))


def test_a_changed_code_cell_or_output_in_the_chinese_notebook_is_found(repo):
    english = repo / "notebooks" / PILOT
    translated = edition_path(english, repo)
    assert code_differences(english, translated) == []
    _edit(translated, lambda cells: _cell(cells, "4faf9f0c").outputs[0].update(text="output shape: (1, 1, 7, 7)\n"))
    assert code_differences(english, translated) == [f"{PILOT}, code cell 4faf9f0c: its outputs differs from the English notebook's"]
    assert any("not what the build writes now" in p for p in check(repo))


def test_a_message_and_its_translation_keep_the_same_placeholders(repo):
    po = repo / "course_utils" / "locale" / "zh_CN" / "LC_MESSAGES" / "course_utils.po"
    catalog = polib.pofile(str(po))
    entry = next(e for e in catalog if e.msgid.startswith("{call} returned None"))
    entry.msgstr = entry.msgstr.replace("{call}", "{name}")
    catalog.save(str(po))
    build(repo)
    assert any("placeholders" in p and "{call} returned None" in p for p in check(repo))


def test_an_f_string_inside_gettext_is_refused_with_how_to_write_it(repo):
    module = repo / "course_utils" / "exercises" / "start.py"
    module.write_text(module.read_text(encoding="utf-8") + '\n\ndef _late(x):\n    return _(f"late {x}")\n', encoding="utf-8")
    from tools.i18n.messages import MessageError, extract_messages

    with pytest.raises(MessageError, match=r"start.py:\d+: _\(\) needs a plain string literal .*\.format\(name=value\)"):
        extract_messages(repo)


def test_a_notebook_joins_the_edition_with_update(repo):
    english_path = repo / "notebooks" / "02-pooling.ipynb"
    catalog_path(english_path, repo).unlink()  # 02 leaves the edition, untagged, to join it again
    edition_path(english_path, repo).unlink()
    _edit(english_path, lambda cells: [c.metadata.pop("tags", None) for c in cells if is_key_terms_cell(c)])
    build(repo)  # 00's course table now links to the English 02
    assert "02-pooling" in status(repo) and "not started" in status(repo)
    assert check(repo) == [], "a notebook that has not joined is not checked"
    update(repo, ["02"])
    english = nbformat.read(english_path, as_version=4)
    key_terms = [c for c in english.cells if is_key_terms_cell(c)]
    assert len(key_terms) == 1, "the key-terms cell is tagged"
    build(repo)
    problems = check(repo)
    assert problems and all(p.startswith("notebooks/02-pooling.ipynb, cell ") for p in problems)
    assert any(f"cell {key_terms[0].id}/max pooling: not translated" in p for p in problems)
    assert code_differences(english_path, repo / "notebooks" / "zh_CN" / "02-pooling.ipynb") == []
    table = next(c.source for c in nbformat.read(repo / "notebooks" / "zh_CN" / PILOT, as_version=4).cells
                 if COURSE_TABLE_MARKER in c.source)
    assert "[`02-pooling`](02-pooling.ipynb)" in table, "00's course table links to the Chinese notebook once it exists"


# --- the generated lines: run time and course table, from notebooks/times.json -----------------


@pytest.mark.parametrize("english", TRANSLATED, ids=_ids(TRANSLATED))
def test_each_chinese_notebook_states_its_time_in_the_chinese_template(english):
    title = nbformat.read(edition_path(english, ROOT), as_version=4).cells[0].source
    line = f"{run_time_line(english.stem, language='zh_CN')} {RUN_TIME_MARKER}"
    # the last line in 00-04; 05-07 follow it with what a second run and fast mode cost
    assert line in title.splitlines() and "运行时间" in line


def test_00s_chinese_course_table_lists_every_notebook_and_links_to_the_chinese_ones():
    cells = nbformat.read(edition_path(ROOT / "notebooks" / PILOT, ROOT), as_version=4).cells
    (table,) = [c.source for c in cells if COURSE_TABLE_MARKER in c.source]
    translated = {p.stem for p in TRANSLATED}
    for row in load_times():
        link = f"{row.notebook}.ipynb" if row.notebook in translated else f"../{row.notebook}.ipynb"
        about = about_line(row.notebook, language="zh_CN").removeprefix("在笔记本电脑的 CPU 上")
        assert re.search(rf"\| \[`{row.notebook}`\]\({re.escape(link)}\) \| [^|]*[\u4e00-\u9fff][^|]* \| "
                         rf"{row.teaching_min:g} 分钟 \| {about} \|", table), row.notebook


def test_a_new_measurement_rewrites_the_lines_and_makes_no_translation_fuzzy(repo):
    times = repo / "notebooks" / "times.json"
    data = json.loads(times.read_text(encoding="utf-8"))
    row = next(r for r in data["notebooks"] if r["notebook"].startswith("01-"))
    row["cpu_full_s"] = 400
    times.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    rows = load_times(times)
    english = repo / "notebooks" / "01-convolution-arithmetic.ipynb"
    notebook = nbformat.read(english, as_version=4)
    assert update_notebook(notebook, english.stem, rows)  # what `python -m tools.run_times` does
    nbformat.write(notebook, english)
    assert "about 7 min" in notebook.cells[0].source
    assert [p for p in update(repo) if p.endswith(".po")] == [], "no catalog changes"
    assert sorted(build(repo)) == ["README.zh-CN.md", f"notebooks/zh_CN/{PILOT}",
                                   "notebooks/zh_CN/01-convolution-arithmetic.ipynb"]
    assert check(repo) == []
    assert "约 7 分钟" in nbformat.read(edition_path(english, repo), as_version=4).cells[0].source
    row_01 = next(line for line in (repo / "README.zh-CN.md").read_text(encoding="utf-8").splitlines()
                  if "`01-convolution-arithmetic`" in line)
    assert "约 7 分钟" in row_01 and "(notebooks/zh_CN/01-convolution-arithmetic.ipynb)" in row_01


def test_the_chinese_readmes_course_table_is_generated_and_checked(repo):
    readme = repo / "README.zh-CN.md"
    text = readme.read_text(encoding="utf-8")
    assert "<!-- course-table -->\n| 笔记本 | 主题 |" in text
    readme.write_text(text.replace("约 10 分钟", "约 9 分钟"), encoding="utf-8")
    assert check(repo) == ["README.zh-CN.md: its course table is not what the build writes now; run `make translations`"]
    assert build(repo) == ["README.zh-CN.md"] and check(repo) == []
    assert readme.read_text(encoding="utf-8") == text


# --- make student: both editions ---------------------------------------------------------------


def test_make_student_builds_both_editions_and_the_chinese_learners_copy_runs(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    from tools.build_notebooks import build_editions

    written = build_editions(ROOT / "notebooks", tmp_path)
    for english in TRANSLATED:
        student = tmp_path / "student" / "zh_CN" / english.name
        instructor = tmp_path / "instructor" / "zh_CN" / english.name
        assert student in written["student"] and instructor in written["instructor"]
        assert "教师版" in nbformat.read(instructor, as_version=4).cells[1].source
    assert {p.name for p in written["student"] if p.parent.name == "student"} == {
        p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")}

    path = tmp_path / "student" / "zh_CN" / TRANSLATED[0].name
    notebook = nbformat.read(path, as_version=4)
    stubs = [c for c in notebook.cells if "answer" in c.metadata.get("tags", [])]
    assert stubs and all(CJK.search(c.source) for c in stubs)
    assert all(c.outputs == [] for c in notebook.cells if c.cell_type == "code")
    assert any(LANGUAGE_TAG in c.metadata.get("tags", []) for c in notebook.cells)
    monkeypatch.setenv("COURSE_FAST", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on any error
    printed = ["".join(o.get("text", "") for o in c.outputs) for c in notebook.cells if CHECK_CELL.match(c.source)]
    assert len(printed) >= 2 and all(text.startswith("…") for text in printed), printed
