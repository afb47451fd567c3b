"""The learner's language for what the course says while it runs: checkers' verdicts, explorers' labels.

English is the source. A message a learner reads is written in English in the code and wrapped
in :func:`gettext`, imported as ``_`` (the gettext convention)::

    from course_utils.i18n import gettext as _

    raise Mistake(_("{call} returned None: end your function with `return` and the number.").format(call=call))

The values go in by name, *after* translation (``_("...{call}...").format(call=call)``, never an
f-string inside ``_()``): the translation may put them in another order. The Chinese text lives
in a gettext catalog under the package (``locale/zh_CN/LC_MESSAGES/course_utils.po``, compiled to
``.mo``), which ``python -m tools.i18n messages`` extracts and merges; a message without a
translation is shown in English.

The Chinese notebooks choose their language in their first code cell (``set_language("zh_CN")``);
every other run speaks English. The language is read when a message is made, so a checker
called after ``set_language`` answers in the new language.

Figures speak it too: an explorer's titles are messages, and matplotlib's default font has no
Chinese characters, so ``set_language("zh_CN")`` adds an installed Chinese font to matplotlib's
font families (:func:`use_chinese_font`; the Latin text keeps its font), and says what to install
when there is none.
"""

from __future__ import annotations

import contextlib
import gettext as _gettext
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path

__all__ = [
    "CHINESE_FONTS",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "gettext",
    "language",
    "set_language",
    "use_chinese_font",
    "use_language",
]

DOMAIN = "course_utils"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
"""The languages the course speaks: code → name. ``en`` is the source and the default."""

CHINESE_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
                 "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "Arial Unicode MS")
"""Fonts with Chinese characters, in the order :func:`use_chinese_font` prefers them."""

_ALIASES = {"zh": "zh_CN", "zh-cn": "zh_CN", "zh_cn": "zh_CN", "zh-hans": "zh_CN", "en_us": "en", "en-us": "en"}
_state = {"language": "en"}


def set_language(name: str) -> str:
    """Speak ``name`` from now on (``"en"`` or ``"zh_CN"``; ``"zh-CN"`` works too); return the previous one."""
    if not isinstance(name, str):
        raise TypeError(f"set_language takes a language code such as 'zh_CN', got {type(name).__name__}.")
    chosen = name if name in LANGUAGES else _ALIASES.get(name.strip().lower())
    if chosen is None:
        choices = ", ".join(repr(code) for code in LANGUAGES)
        raise ValueError(f"the course speaks {choices}; got {name!r}.")
    previous, _state["language"] = _state["language"], chosen
    if chosen == "zh_CN":
        use_chinese_font()
    return previous


def language() -> str:
    """The language the course speaks now: ``"en"`` unless :func:`set_language` chose another."""
    return _state["language"]


def _fontconfig_chinese_files() -> list[str]:
    """The font files fontconfig says cover Chinese (none without ``fc-list``)."""
    if shutil.which("fc-list") is None:
        return []
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split(":")[0].strip() for line in listed.splitlines() if line.strip()]


def use_chinese_font() -> str | None:
    """Let matplotlib draw Chinese: add an installed Chinese font to its font families; return its name.

    The font is added after the families already chosen, as a fallback: matplotlib draws each
    character with the first family that has it, so Latin text is unchanged. Fonts installed after
    matplotlib built its font list are found through fontconfig. Without any, it warns with what to
    install (the figures' Chinese would show as boxes) and returns None.
    """
    from matplotlib import font_manager, rcParams

    known = {font.name for font in font_manager.fontManager.ttflist}
    if not known & set(CHINESE_FONTS):
        for path in _fontconfig_chinese_files():
            with contextlib.suppress(Exception):  # a file matplotlib cannot read: try the next
                font_manager.fontManager.addfont(path)
        known = {font.name for font in font_manager.fontManager.ttflist}
    name = next((font for font in CHINESE_FONTS if font in known), None)
    if name is None:
        warnings.warn("matplotlib has no font with Chinese characters, so the figures' Chinese titles will "
                      "show as boxes: install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei; "
                      "conda: conda install -c conda-forge font-ttf-noto-cjk), then restart the kernel.",
                      stacklevel=2)
        return None
    families = [rcParams["font.family"]] if isinstance(rcParams["font.family"], str) else list(rcParams["font.family"])
    if name not in families:
        rcParams["font.family"] = [*families, name]
    return name


@contextlib.contextmanager
def use_language(name: str) -> Iterator[str]:
    """Speak ``name`` inside a ``with`` block, then go back to the language before it."""
    previous = set_language(name)
    try:
        yield language()
    finally:
        set_language(previous)


@cache
def _translations(code: str) -> _gettext.NullTranslations:
    """The compiled catalog of ``code``; English (the messages as written) when it has none."""
    return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[code], fallback=True)


def gettext(message: str) -> str:
    """``message`` in the language spoken now; as written (English) when it has no translation."""
    code = _state["language"]
    if code == "en":
        return message
    return _translations(code).gettext(message)
