"""The explorers in a real browser: JupyterLab in headless Chromium, driven by Playwright.

test_explorers.py checks the widgets' Python side without a front end. This test checks what a
learner gets: JupyterLab serves a throwaway copy of the notebooks on 127.0.0.1 (a random free
port, a token) with a kernel from this Python; Chromium opens notebook 01 (then 02, 04), runs
the lesson up to the explorer's cell, drags the *stride* slider with the mouse, and the printed
output size must change to what the plain function (``conv_geometry``, ``pooling_example``,
``receptive_field_example``) gives for the values the sliders show. Screenshots of the explorer
before and after go to ``build/test-artifacts/browser/`` (git-ignored).

The Chinese edition: the Chinese notebook 00 must show its text in a real CJK font (the fonts
Chromium drew it with, asked through the DevTools protocol, and no glyph drawn as the box of a
missing one), and the explorers of the Chinese notebooks 01, 02 and 04 (which run
``set_language("zh_CN")`` first) must show their controls in Chinese and follow their 步长 (stride)
slider. ``.ci/run`` installs a CJK font
(``fonts-wqy-microhei``) with Chromium.

The browser is the system's Chromium (Debian's ``chromium`` package: ``.ci/run`` installs it when
missing), not one Playwright downloads. Without Playwright or Chromium the test is skipped, and
says why. Set ``COURSE_CHROMIUM`` to use another Chromium binary.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from course_utils.i18n import gettext, use_language
from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.pooling import pooling_example
from course_utils.lessons.receptive_field import receptive_field_example

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "build" / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TOKEN = "course-browser-test"
RUN_TIMEOUT_MS = 180_000  # the lesson's cells up to the explorer, fast mode, on a busy 2-core CPU

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    """``COURSE_CHROMIUM`` when set (and nothing else), else Debian's ``/usr/bin/chromium``."""
    chosen = os.environ.get("COURSE_CHROMIUM")
    for candidate in [chosen] if chosen else ["/usr/bin/chromium", shutil.which("chromium")]:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass(frozen=True)
class Explorer:
    """One explorer: where it is, what its sliders mean, and what it must print."""

    notebook: str
    call: str  # text that only the explorer's cell contains
    controls: dict[str, str]  # control label → keyword of the plain function
    describe: Callable[..., str]  # keyword values → the text the explorer prints
    size: Callable[..., int]  # keyword values → the size that the printed text states
    printed_size: str  # regex that reads that size back from the printed text
    option_values: dict[str, str] = field(default_factory=dict)  # a toggle's shown label → its value


EXPLORERS = {
    "conv": Explorer(
        "01-convolution-arithmetic.ipynb",
        "conv_explorer(",
        {"input size": "size", "kernel": "kernel_size", "stride": "stride", "padding": "padding", "dilation": "dilation"},
        lambda **v: conv_geometry(**v).describe(),
        lambda **v: conv_geometry(**v).output_size,
        r"output: (\d+)×\d+",
    ),
    "pooling": Explorer(
        "02-pooling.ipynb",
        "pooling_explorer(",
        {"input size": "size", "window": "kernel_size", "stride": "stride", "pooling": "mode"},
        lambda **v: pooling_example(**v).describe(),
        lambda **v: int(pooling_example(**v).output.shape[-1]),
        r"→ (\d+)×\d+",
    ),
    "receptive field": Explorer(
        "04-receptive-fields.ipynb",
        "receptive_field_explorer(",
        {"conv layers": "n_layers", "kernel": "kernel_size", "stride": "stride", "dilation": "dilation", "pool every": "pool_every"},
        lambda **v: receptive_field_example(**v).describe(),
        lambda **v: receptive_field_example(**v).receptive_field,
        r"sees (\d+)×\d+ input pixels",
    ),
}


ZH_NOTEBOOK = "zh_CN/00-start-here.ipynb"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _chinese_notebooks(folder: Path) -> None:
    """The Chinese notebook 00, and the Chinese notebooks of the explorers (01, 02, 04)."""
    folder.mkdir()
    for name in [ZH_NOTEBOOK, *(f"zh_CN/{explorer.notebook}" for explorer in EXPLORERS.values())]:
        shutil.copy(ROOT / "notebooks" / name, folder)


def _chinese(explorer: Explorer) -> Explorer:
    """The same explorer in its Chinese notebook, with its labels as that notebook shows them."""
    with use_language("zh_CN"):
        controls = {gettext(label): keyword for label, keyword in explorer.controls.items()}
        options = {gettext(value): value for value in ("max", "avg")}  # the pooling toggle's
    return Explorer(f"zh_CN/{explorer.notebook}", explorer.call, controls, explorer.describe, explorer.size,
                    explorer.printed_size, options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """JupyterLab on loopback over a throwaway copy of the notebooks; yields its base URL."""
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "notebooks"
    notebooks.mkdir()
    for explorer in EXPLORERS.values():
        shutil.copy(ROOT / "notebooks" / explorer.notebook, notebooks)
    _chinese_notebooks(notebooks / "zh_CN")
    settings = home / "settings"
    # Render every cell (no windowing) and never ask about news: nothing may hide the widgets.
    for name, text in {
        "@jupyterlab/notebook-extension/tracker": '{"windowingMode": "none"}',
        "@jupyterlab/apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
    }.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{name}.jupyterlab-settings").write_text(text)
    env = dict(
        os.environ,
        COURSE_FAST="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),  # no user kernels: the kernel is this Python
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    port = _free_port()
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={notebooks}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells by command
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = (home / "lab.log").open("wb")
    server = subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
    )
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium: install Debian's package (apt-get install chromium, as .ci/run does) "
            f"or set COURSE_CHROMIUM to a Chromium binary (now {os.environ.get('COURSE_CHROMIUM', 'unset')})"
        )
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _control(cell, label: str):
    """The slider or toggle-buttons widget with this label."""
    label_locator = cell.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
    return cell.locator(".widget-slider, .widget-toggle-buttons").filter(has=label_locator).first


def _values(cell, explorer: Explorer) -> dict[str, object]:
    """What the controls show now, as keyword arguments of the plain function."""
    values: dict[str, object] = {}
    for label, keyword in explorer.controls.items():
        control = _control(cell, label)
        if control.locator(".widget-readout").count():
            values[keyword] = int(control.locator(".widget-readout").inner_text())
        else:  # toggle buttons
            shown = control.locator("button.mod-active").inner_text().strip()
            values[keyword] = explorer.option_values.get(shown, shown)
    return values


def _drag(page, slider, value: int) -> None:
    """Drag a slider's handle with the mouse to ``value``, as a learner would."""
    handle = slider.locator(".noUi-handle")
    low, high = float(handle.get_attribute("aria-valuemin")), float(handle.get_attribute("aria-valuemax"))
    track, grip = slider.locator(".noUi-target").bounding_box(), handle.bounding_box()
    y = grip["y"] + grip["height"] / 2
    page.mouse.move(grip["x"] + grip["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + (value - low) / (high - low) * track["width"], y, steps=10)
    page.mouse.up()


def _size_or_none(explorer: Explorer, values: dict[str, object]) -> int | None:
    """The size these settings give, or None for settings that cannot work."""
    try:
        return explorer.size(**values)
    except ValueError:
        return None


def _wait_for_text(page, element, text: str, what: str) -> None:
    try:
        page.wait_for_function("([el, text]) => el.innerText.includes(text)", arg=[element.element_handle(), text], timeout=RUN_TIMEOUT_MS)
    except Exception as error:  # Playwright's TimeoutError: say what was on the screen instead
        raise AssertionError(f"{what}: expected\n{text}\nbut the output shows\n{element.inner_text()}") from error


def _open(page, lab: str, notebook: str, stem: str) -> None:
    """Open ``notebook`` in a workspace of its own, reset (nothing restored); wait for an idle kernel."""
    page.goto(f"{lab}/lab/workspaces/{stem}/tree/{notebook}?reset&token={TOKEN}")
    page.wait_for_function(
        """path => {
            const panel = window.jupyterapp?.shell.currentWidget;
            return panel?.context?.path === path && panel.sessionContext?.isReady
                && panel.sessionContext.session?.kernel?.status === "idle";
        }""",
        arg=notebook,
        timeout=RUN_TIMEOUT_MS,
    )


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_moving_the_stride_slider_changes_the_printed_size(browser, lab, name):
    _drive(browser, lab, name, EXPLORERS[name], "stride")


def _drive(browser, lab: str, name: str, explorer: Explorer, stride_label: str) -> None:
    """Run the lesson up to the explorer, drag its stride slider, and read the size it prints."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    stem = explorer.notebook.removesuffix(".ipynb").replace("/", "-")
    for stale in ARTIFACTS.glob(f"{stem}-*.png"):
        stale.unlink()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, lab, explorer.notebook, stem)
        cells = page.locator(".jp-CodeCell", has_text=explorer.call)
        cells.first.wait_for(timeout=RUN_TIMEOUT_MS)  # the notebook is rendered
        assert cells.count() == 1, f"{explorer.notebook}: expected one cell with {explorer.call!r}"
        cell = cells.first
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").click()  # make it the active cell
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-above')")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-cell')")
        output = cell.locator(".widget-output")
        output.wait_for(timeout=RUN_TIMEOUT_MS)
        cell.locator(".widget-readout").first.wait_for(timeout=RUN_TIMEOUT_MS)

        before = _values(cell, explorer)
        _wait_for_text(page, output, explorer.describe(**before), f"{name} explorer, first draw")
        cell.locator(".jp-OutputArea-output img").first.wait_for(timeout=RUN_TIMEOUT_MS)  # its figure
        assert "missing from font" not in cell.inner_text(), "the figure's titles need a font with their characters"
        cell.screenshot(path=ARTIFACTS / f"{stem}-before.png")

        stride = _control(cell, stride_label)
        handle = stride.locator(".noUi-handle")
        low, high = int(float(handle.get_attribute("aria-valuemin"))), int(float(handle.get_attribute("aria-valuemax")))
        old_size = explorer.size(**before)
        target = next(
            s for s in range(low, high + 1)
            if s != before["stride"] and _size_or_none(explorer, {**before, "stride": s}) not in (None, old_size)
        )  # fmt: skip
        _drag(page, stride, target)
        after = {**before, "stride": target}
        _wait_for_text(page, output, explorer.describe(**after), f"{name} explorer, stride {before['stride']} → {target}")
        cell.screenshot(path=ARTIFACTS / f"{stem}-after.png")

        assert _values(cell, explorer) == after, "the slider did not end on the value it was dragged to"
        printed = [int(n) for n in re.findall(explorer.printed_size, output.inner_text())]
        assert printed == [explorer.size(**after)], f"printed sizes {printed}"
        assert printed[0] != old_size
    except Exception:
        page.screenshot(path=ARTIFACTS / f"{stem}-failure.png", full_page=True)
        raise
    finally:
        page.evaluate("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.shutdown()")  # free its memory
        page.close()


CHINESE_CONTROLS = {
    "conv": {"输入尺寸", "卷积核", "步长", "边缘填充", "膨胀"},
    "pooling": {"输入尺寸", "区域", "步长", "池化"},
    "receptive field": {"卷积层数", "卷积核", "步长", "膨胀", "每几层池化一次"},
}


@pytest.mark.parametrize("name", list(EXPLORERS))
def test_the_chinese_explorers_speak_chinese_and_follow_their_slider(browser, lab, name):
    explorer = _chinese(EXPLORERS[name])
    assert set(explorer.controls) == CHINESE_CONTROLS[name]
    _drive(browser, lab, f"{name} (zh_CN)", explorer, "步长")


# Chromium's own account of the fonts it drew a node's text with, and a canvas comparison of each
# character with a character no font has (U+10FFFD): equal pixels mean a missing-glyph box.
_FONT_PROBE = """el => {
    const direct = [...el.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join("");
    const font = getComputedStyle(el).font;
    const draw = ch => {
        const canvas = document.createElement("canvas");
        canvas.width = canvas.height = 64;
        const ctx = canvas.getContext("2d");
        ctx.font = font.replace(/\\d+(\\.\\d+)?px/, "40px");
        ctx.fillText(ch, 4, 48);
        return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(",");
    };
    const chars = [...new Set([...direct].filter(ch => /[\\u4e00-\\u9fff]/.test(ch)))].slice(0, 12);
    const missing = draw(String.fromCodePoint(0x10FFFD));
    const drawn = chars.map(draw);
    el.setAttribute("data-font-probe", "1");
    return {direct, font, chars, boxes: drawn.filter(d => d === missing).length, distinct: new Set(drawn).size};
}"""


def _cjk_families() -> set[str]:
    """The font families fontconfig says cover Chinese (empty without fontconfig)."""
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}


def test_the_chinese_notebook_shows_its_text_in_a_cjk_font(browser, lab):
    families = _cjk_families()
    if not families:
        pytest.fail("no font covers Chinese (fc-list :lang=zh is empty): install one, e.g. "
                    "apt-get install fonts-wqy-microhei (.ci/run does)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, lab, ZH_NOTEBOOK, "zh-00")
        item = page.locator(".jp-RenderedMarkdown li", has_text="课程是怎样组织的").first
        item.wait_for(timeout=RUN_TIMEOUT_MS)
        probe = item.evaluate(_FONT_PROBE)
        assert len(probe["chars"]) >= 8, probe
        assert probe["boxes"] == 0 and probe["distinct"] == len(probe["chars"]), f"missing-glyph boxes: {probe}"
        session = page.context.new_cdp_session(page)
        root = session.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = session.send("DOM.querySelector", {"nodeId": root, "selector": "[data-font-probe]"})["nodeId"]
        session.send("CSS.enable")
        fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        cjk_glyphs = sum(f["glyphCount"] for f in fonts if f["familyName"] in families)
        chinese = len(CJK.findall(probe["direct"]))
        assert cjk_glyphs >= chinese > 0, f"{chinese} Chinese characters, drawn with {fonts} (CJK families: {sorted(families)})"
        page.locator(".jp-Notebook").screenshot(path=ARTIFACTS / "zh-00-start-here.png")
    except Exception:
        page.screenshot(path=ARTIFACTS / "zh-00-start-here-failure.png", full_page=True)
        raise
    finally:
        page.evaluate("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.shutdown()")
        page.close()
