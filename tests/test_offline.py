"""Offline, nothing hangs: every download route of the course fails within a few seconds and
falls back to the course's own default, or stops with a message that says what to do.

The network is blocked three ways:

- in this process, by making every socket call fail (a machine with no network);
- in a child process under ``unshare -rn`` (a new, empty network namespace), when the system
  allows it;
- in a child process whose every connection goes to a *black hole*: a socket on 127.0.0.1 whose
  queue is full, so that the kernel drops each connection attempt without an answer, like a
  firewall that drops packets. Code without a timeout hangs there; the child is given 90
  seconds, and a route that has not answered by then is reported as hanging.

No address other than loopback is ever contacted. Run as a script, this file is the child.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from course_utils.env import run_context

ROOT = Path(__file__).resolve().parent.parent
FEW_SECONDS = 10.0  # a blocked route must give up within this (the probe's own timeout is 2 s)
SYNTHETIC_SIZE = 32  # the smallest synthetic flowers: this file tests the network, not drawing


# --------------------------------------------------------------------------------------
# The routes that may touch the network, each returning what the learner is told
# --------------------------------------------------------------------------------------


def route_probe() -> str:
    from course_utils.env import is_online

    assert is_online() is False
    return "is_online() answered False"


def route_digits_auto() -> str:
    from course_utils.data.digits import GENERATED, digits_source

    assert digits_source("auto") == GENERATED
    return "load_digits(source='auto') will use the generated digits"


def route_digits_mnist() -> str:
    from course_utils.data.digits import load_digits

    with pytest.raises(RuntimeError, match="source='generated'") as refused:
        load_digits(source="mnist", train_size=10, val_size=10)
    return str(refused.value)


def route_flowers_fallback() -> str:
    from course_utils.data.flowers import find_flowers

    out = _captured(lambda: find_flowers(download=True, synthetic_size=SYNTHETIC_SIZE, progress=False))
    source, printed = out
    assert source.is_generated, source
    assert "synthetic" in printed.lower(), printed
    return printed


def route_flowers_download() -> str:
    from course_utils.data.flowers102 import download_flowers102
    from course_utils.env import data_dir

    with pytest.raises(RuntimeError) as failed:  # the course's own message, not a bare URLError
        _captured(lambda: download_flowers102(progress=False))
    message = str(failed.value)
    assert "Flowers-102" in message and "find_flowers" in message, message
    leftovers = [p.name for p in data_dir().iterdir() if p.name.startswith("flowers102")]
    assert not leftovers, f"a failed download left {leftovers} behind"
    return message


def route_torchvision_weights() -> str:
    context = run_context(device="cpu")
    from course_utils.models.build import build_model
    from course_utils.models.registry import OFFLINE_MODEL

    with pytest.raises(RuntimeError, match=OFFLINE_MODEL) as refused:
        build_model("resnet18", 3, context=context)
    return str(refused.value)


def route_offline_model() -> str:
    context = run_context(device="cpu")
    from course_utils.models.build import build_model
    from course_utils.models.registry import OFFLINE_MODEL

    build_model(OFFLINE_MODEL, 3, context=context)  # pretrained weights from the pip package: no network at all
    return f"{OFFLINE_MODEL} built with its pretrained weights"


ROUTES = {
    "probe": route_probe,
    "digits auto": route_digits_auto,
    "digits mnist": route_digits_mnist,
    "flowers fallback": route_flowers_fallback,
    "torchvision weights": route_torchvision_weights,
    "offline model": route_offline_model,
    "flowers download": route_flowers_download,
}


def _captured(call):
    """Run ``call``; return (its result, what it told the learner: printed lines and warnings).

    Exceptions still go through.
    """
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, buffer.getvalue() + "".join(f"{w.message}\n" for w in caught)


def import_everything() -> None:
    """Import what the routes use first, so that their times measure the network, not imports."""
    import torchvision.datasets  # noqa: F401
    import torchvision.models  # noqa: F401

    import course_utils.data.digits  # noqa: F401
    import course_utils.data.flowers  # noqa: F401
    import course_utils.models.build  # noqa: F401


def run_routes(names: list[str]) -> None:
    """The child: run each route, print one JSON line per route as soon as it ends."""
    import_everything()
    for name in names:
        started = time.monotonic()
        try:
            message, ok = ROUTES[name](), True
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            message, ok = f"{type(error).__name__}: {error}", False
        print(json.dumps({"route": name, "ok": ok, "seconds": time.monotonic() - started,
                          "message": str(message)[:500]}), flush=True)


# --------------------------------------------------------------------------------------
# Blocking the network
# --------------------------------------------------------------------------------------


def refuse_all_sockets(monkeypatch) -> list:
    """Every name lookup and connection fails at once, as on a machine with no network."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError(errno.ENETUNREACH, "blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def black_hole() -> tuple[socket.socket, list[socket.socket]]:
    """A listening socket on 127.0.0.1 whose accept queue is full: new connections hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            client.connect(("127.0.0.1", port))
        fillers.append(client)
    time.sleep(0.1)

    def resolve_to_the_hole(host, port_, family=0, type=0, proto=0, flags=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    socket.getaddrinfo = resolve_to_the_hole
    return server, fillers


def offline_env(data: Path, torch_home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("COURSE_OFFLINE", "COURSE_FLOWERS_DIR", "http_proxy", "https_proxy",
                          "HTTP_PROXY", "HTTPS_PROXY")}
    env.update(COURSE_DATA_DIR=str(data), TORCH_HOME=str(torch_home), COURSE_FAST="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return env


@pytest.fixture(scope="module")
def synthetic_flowers(tmp_path_factory) -> Path:
    """The synthetic flowers, drawn once for this file and copied into each data folder."""
    from course_utils.data.synthetic_flowers import make_synthetic_flowers

    return make_synthetic_flowers(tmp_path_factory.mktemp("drawn"), image_size=SYNTHETIC_SIZE, progress=False)


def data_folder(base: Path, synthetic_flowers: Path) -> Path:
    data = base / "data"
    data.mkdir(parents=True)
    shutil.copytree(synthetic_flowers, data / synthetic_flowers.name)
    return data


def run_child(args: list[str], env: dict[str, str], timeout: float = 90) -> dict[str, dict]:
    """Start the child, wait at most ``timeout`` seconds, return its reports by route."""
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
    reports = {r["route"]: r for r in map(json.loads, [ln for ln in out.splitlines() if ln.startswith("{")])}
    hung = [name for name in ROUTES if name not in reports]
    assert not hung, f"route(s) {hung} did not finish within {timeout} s (hang?). stderr:\n{err[-2000:]}"
    return reports


def check_reports(reports: dict[str, dict]) -> None:
    failed = {name: r["message"] for name, r in reports.items() if not r["ok"]}
    assert not failed, json.dumps(failed, indent=1)
    slow = {name: round(r["seconds"], 1) for name, r in reports.items() if r["seconds"] > FEW_SECONDS}
    assert not slow, f"routes slower than {FEW_SECONDS} s without a network: {slow}"


# --------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------


def use_fresh_folders(monkeypatch, tmp_path: Path, synthetic_flowers: Path) -> None:
    """This process gets its own data folder (synthetic flowers already drawn), an empty torch
    cache and no offline switch: only the state of the network decides what happens."""
    data = data_folder(tmp_path, synthetic_flowers)
    for key, value in offline_env(data, tmp_path / "torch").items():
        if key != "PYTHONPATH":
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.delenv("COURSE_FLOWERS_DIR", raising=False)
    import_everything()


@pytest.fixture
def no_network(monkeypatch, tmp_path, synthetic_flowers):
    use_fresh_folders(monkeypatch, tmp_path, synthetic_flowers)
    return refuse_all_sockets(monkeypatch)


@pytest.mark.parametrize("name", list(ROUTES))
def test_each_route_gives_up_at_once_when_sockets_fail(no_network, name):
    started = time.monotonic()
    ROUTES[name]()
    assert time.monotonic() - started < FEW_SECONDS


def test_the_offline_model_never_touches_the_network(no_network):
    route_offline_model()
    assert no_network == []


def test_a_failed_mnist_download_falls_back_to_generated_digits(no_network, monkeypatch):
    """The probe says online, then the download itself fails: a warning, and generated digits."""
    from course_utils.data import digits
    from course_utils.data.sources import DataSourceWarning

    monkeypatch.setattr(digits, "is_online", lambda *args, **kwargs: True)
    started = time.monotonic()
    with pytest.warns(DataSourceWarning, match=r"(?s)Loading MNIST failed.*generated digits"):
        loaded = digits.load_digits(train_size=20, val_size=10)
    assert time.monotonic() - started < 3 * FEW_SECONDS  # includes drawing the digits
    assert loaded.source.kind == digits.GENERATED and no_network  # it did try
    assert "offline stand-in" in loaded.describe()


def test_a_failed_flowers_download_falls_back_to_the_synthetic_flowers(no_network, monkeypatch):
    """The probe says online, then the download fails: a message, and the synthetic flowers."""
    from course_utils.data import flowers, flowers102

    monkeypatch.setattr(flowers102, "is_online", lambda *args, **kwargs: True)
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source, printed = _captured(lambda: flowers.find_flowers(download=True, synthetic_size=SYNTHETIC_SIZE,
                                                                 progress=False))
    assert time.monotonic() - started < FEW_SECONDS
    assert source.is_generated and "synthetic" in printed.lower(), printed
    assert no_network  # it did try


def test_routes_in_an_empty_network_namespace(tmp_path, synthetic_flowers):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode:
        pytest.skip("unshare -rn (an unprivileged network namespace) is not available here")
    env = offline_env(data_folder(tmp_path, synthetic_flowers), tmp_path / "torch")
    reports = run_child(["unshare", "-rn", sys.executable, __file__, "routes"], env)
    check_reports(reports)


def test_routes_against_a_black_hole_do_not_hang(tmp_path, synthetic_flowers):
    env = offline_env(data_folder(tmp_path, synthetic_flowers), tmp_path / "torch")
    reports = run_child([sys.executable, __file__, "black-hole"], env)
    check_reports(reports)


if __name__ == "__main__":
    if sys.argv[1:] == ["black-hole"]:
        _hole = black_hole()
    elif sys.argv[1:] != ["routes"]:
        raise SystemExit("usage: test_offline.py routes|black-hole")
    run_routes(list(ROUTES))


@contextlib.contextmanager
def silent_server():
    """A server on 127.0.0.1 that accepts every connection and then never sends a byte,
    like a captive portal or a dying Wi-Fi: the probe succeeds, the download would wait forever."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_and_hold():
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept_and_hold, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


@pytest.fixture
def stalling_network(monkeypatch, tmp_path, synthetic_flowers):
    """Every host name leads to a server that accepts and then stays silent; the stall timeout
    is 1 s instead of a learner's minute."""
    import course_utils.env

    use_fresh_folders(monkeypatch, tmp_path, synthetic_flowers)
    monkeypatch.setattr(course_utils.env, "DOWNLOAD_STALL_SECONDS", 1.0)
    with silent_server() as port:
        monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))])
        yield


def route_mnist_download() -> str:
    from course_utils.data.digits import load_digits

    with pytest.raises(RuntimeError) as failed:
        load_digits(source="mnist", train_size=10, val_size=10)
    return str(failed.value)


@pytest.mark.parametrize("route", [route_flowers_download, route_torchvision_weights, route_mnist_download])
def test_a_download_that_stalls_fails_with_the_courses_message(stalling_network, route):
    """The connection opens, then nothing arrives: the download gives up after the stall timeout
    with the course's message (which says what to do) instead of hanging."""
    import threading

    from course_utils.env import is_online

    assert is_online()  # the probe connects: only the download itself can stall
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(_outcome(route)), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the download still waits after 30 s of silence: it would hang"
    ok, message = outcome[0]
    assert ok and "timed out" in message.lower(), message
    assert socket.getdefaulttimeout() is None  # the process-wide default is restored


def _outcome(route) -> tuple[bool, str]:
    try:
        return True, route()
    except BaseException as error:  # noqa: BLE001 - reported by the test
        return False, f"{type(error).__name__}: {error}"
