"""course_utils.env: fast mode, device choice, the network check, the data folder."""

from __future__ import annotations

import socket
import time

import pytest
import torch

from course_utils import env


def test_pick_follows_fast_mode(monkeypatch):
    monkeypatch.setenv(env.FAST_ENV_VAR, "1")
    assert env.fast_mode() and env.pick(full=10, fast=1) == 1
    monkeypatch.setenv(env.FAST_ENV_VAR, "0")
    assert not env.fast_mode() and env.pick(full=10, fast=1) == 10
    monkeypatch.delenv(env.FAST_ENV_VAR)
    assert env.pick(full="full", fast="fast") == "full"


def test_get_device_defaults_to_what_is_there(monkeypatch):
    monkeypatch.delenv(env.DEVICE_ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    device = env.get_device()
    if expected:
        assert device.type == expected
    assert torch.zeros(1, device=device).device.type == device.type


def test_get_device_override_and_clear_error(monkeypatch):
    monkeypatch.setenv(env.DEVICE_ENV_VAR, "cpu")
    assert env.get_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            env.get_device("cuda")


def test_is_online_answers_quickly_when_told_offline(monkeypatch):
    monkeypatch.setenv(env.OFFLINE_ENV_VAR, "1")
    start = time.perf_counter()
    assert env.is_online() is False
    assert time.perf_counter() - start < 0.5


def test_is_online_is_false_when_nothing_answers(monkeypatch):
    monkeypatch.delenv(env.OFFLINE_ENV_VAR, raising=False)
    with socket.socket() as probe:  # find a local port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.perf_counter()
    assert env.is_online(host="127.0.0.1", port=port, timeout=1.0) is False
    assert time.perf_counter() - start < 3


def test_is_online_is_true_when_something_answers(monkeypatch):
    monkeypatch.delenv(env.OFFLINE_ENV_VAR, raising=False)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert env.is_online(host="127.0.0.1", port=server.getsockname()[1], timeout=1.0)


def test_data_dir_honours_the_environment(monkeypatch, tmp_path):
    target = tmp_path / "somewhere else"
    monkeypatch.setenv(env.DATA_ENV_VAR, str(target))
    assert env.data_dir() == target and target.is_dir()


def test_seed_everything_repeats_random_draws():
    env.seed_everything(3)
    first = torch.rand(3)
    env.seed_everything(3)
    assert torch.equal(first, torch.rand(3))


def test_environment_report_has_the_essentials():
    report = env.environment_report()
    for key in ("torch", "device", "network", "data folder", "mode"):
        assert report[key]
