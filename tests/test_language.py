"""The learner's language at run time (course_utils/i18n.py): 00's checkers and the explorers' labels
speak English by default and Chinese after ``set_language("zh_CN")``, in the glossary's terms."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest

from course_utils.exercises.start import check_offline_wait, check_output_at
from course_utils.i18n import LANGUAGES, LOCALE_DIR, gettext, language, set_language, use_language
from course_utils.lessons.explorers import conv_explorer, pooling_explorer, receptive_field_explorer
from tools.i18n.glossary import read_glossary
from tools.i18n.layout import glossary_path

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    set_language("en")


def test_english_is_the_default_and_other_codes_are_refused_with_the_choices():
    assert language() == "en" and set(LANGUAGES) == {"en", "zh_CN"}
    with pytest.raises(ValueError, match=r"the course speaks 'en', 'zh_CN'; got 'fr'"):
        set_language("fr")
    with pytest.raises(TypeError, match="a language code such as 'zh_CN'"):
        set_language(None)
    assert set_language("zh-CN") == "en" and language() == "zh_CN"


def test_use_language_goes_back_and_a_message_without_translation_stays_english():
    with use_language("zh_CN"):
        assert gettext("stride") == "步长"
        assert gettext("a sentence nobody translated") == "a sentence nobody translated"
    assert language() == "en" and gettext("stride") == "stride"


def _at(image, kernel, row, col, size=3):
    return (image[0, :, row : row + size, col : col + size] * kernel[0]).sum()


# (checker, answer, a piece of the English sentence, a piece of the Chinese one)
MESSAGES = [
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c, k.shape[-1]),
     "your hand computation equals F.conv2d at every position tried", "你手算的结果都等于 F.conv2d"),
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c), "fails for a 5×5 kernel", "遇到 5×5 的卷积核就出错了"),
    (check_output_at, lambda im, k, r, c: (im[0, :, r : r + 3, c : c + 3] * k[0, :, :3, :3]).sum(),
     "is wrong for a 5×5 kernel", "在 5×5 的卷积核上算错了"),
    (check_output_at, lambda im, k, r, c: None, "output_at(image, kernel, 0, 0) returned None", "output_at(image, kernel, 0, 0) 返回了 None"),
    (check_output_at, lambda im, k, r, c: (im[0, :, r : r + 3, c : c + 3] * k[0]).sum(dim=(1, 2)),
     "returned a tensor of shape (3,), not one number", "返回的是形状为 (3,) 的张量，而不是一个数"),
    (check_output_at, lambda im, k, r, c: _at(im, k, c, r, k.shape[-1]),
     "output_at(image, kernel, 2, 4) is PyTorch's output at row 4, column 2", "是 PyTorch 在第 4 行、第 2 列的输出"),
    (check_output_at, lambda im, k, r, c: _at(im, k, r, c, k.shape[-1]) + 1, "but F.conv2d gives", "而 F.conv2d 给出"),
    (check_offline_wait, 2.0, "is_online gives up after 2 seconds", "is_online 等 2 秒后就放弃"),
    (check_offline_wait, 60.0, "DOWNLOAD_STALL_SECONDS", "已经开始的下载最多可以停顿多久（DOWNLOAD_STALL_SECONDS）"),
    (check_offline_wait, 5, "5 seconds is not it", "不是 5 秒"),
    (check_offline_wait, "2", "give a number of seconds, not str", "而不是 str"),
]


@pytest.mark.parametrize("check, answer, english, chinese", MESSAGES, ids=[m[2][:32] for m in MESSAGES])
def test_each_of_00s_messages_in_english_and_in_chinese(check, answer, english, chinese, capsys):
    verdict = check(answer)
    assert english in verdict.message and capsys.readouterr().out.strip() == str(verdict)
    with use_language("zh_CN"):
        translated = check(answer)
    assert translated.status == verdict.status
    assert chinese in translated.message and CJK.search(translated.message), translated.message
    assert capsys.readouterr().out.strip() == str(translated)
    numbers = re.findall(r"\d+(?:\.\d+)?", verdict.message.replace("F.conv2d", ""))
    assert sorted(numbers) == sorted(re.findall(r"\d+(?:\.\d+)?", translated.message.replace("F.conv2d", ""))), \
        "the same values, in another language"


def test_every_message_of_00s_checkers_is_covered_in_both_languages(capsys):
    """Each ``_("...")`` of exercises/start.py is the sentence of one case above (its words, values aside)."""
    from tools.i18n.messages import extract_messages

    messages = [m.msgid for m in extract_messages(ROOT) if m.ctxt == "course_utils/exercises/start.py"]
    said = [check(answer).message for check, answer, _, _ in MESSAGES]
    capsys.readouterr()

    def says(message: str, sentence: str) -> bool:
        return all(part in sentence for part in re.split(r"\{[^}]*\}", message) if part.strip())

    assert [m for m in messages if not any(says(m, s) for s in said)] == []
    assert len(messages) == len(MESSAGES), "one case per message"


def test_the_explorers_labels_are_in_chinese_in_the_glossarys_terms():
    glossary = read_glossary(glossary_path(ROOT))
    with use_language("zh_CN"):
        conv = conv_explorer()
        pooling = pooling_explorer()
        field = receptive_field_explorer()
    labels = {w.description for box in (conv, pooling, field) for w in box.children[0].children}
    assert {"输入尺寸", "卷积核", "步长", "边缘填充", "膨胀", "区域", "池化", "卷积层数"} <= labels
    assert all(CJK.search(label) for label in labels), labels
    for english in ("kernel", "stride", "padding", "dilation", "window", "pooling"):
        with use_language("zh_CN"):
            assert gettext(english) == glossary.find(english).zh
    toggle = pooling_explorer().children[0].children[-1]  # English: the labels are the values
    assert list(toggle._options_values) == ["max", "avg"] and list(toggle._options_labels) == ["max", "avg"]
    with use_language("zh_CN"):
        toggle = pooling_explorer().children[0].children[-1]
    assert list(toggle._options_labels) == ["最大值", "平均值"] and list(toggle._options_values) == ["max", "avg"]


def test_every_translated_label_that_is_a_glossary_term_is_the_glossarys_chinese():
    glossary = read_glossary(glossary_path(ROOT))
    catalog = polib.pofile(str(LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "course_utils.po"))
    terms = [e for e in catalog if e.msgid in glossary]
    assert len(terms) >= 6
    assert [(e.msgid, e.msgstr) for e in terms] == [(e.msgid, glossary.find(e.msgid).zh) for e in terms]


def test_a_checker_reads_the_language_when_it_answers():
    assert "returned None" in check_output_at(lambda *a: None).message
    set_language("zh_CN")
    assert "返回了 None" in check_output_at(lambda *a: None).message
    set_language("en")
    assert "returned None" in check_output_at(lambda *a: None).message
