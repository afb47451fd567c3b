"""course_utils.env: the run context is decided once, from arguments, the environment and the machine."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest
import torch

from course_utils import env


def test_pick_follows_fast_mode(monkeypatch):
    monkeypatch.setenv(env.FAST_ENV_VAR, "1")
    assert env.fast_mode() and env.pick(full=10, fast=1) == 1
    assert env.run_context(fast=False).pick(full=10, fast=1) == 10
    monkeypatch.setenv(env.FAST_ENV_VAR, "0")
    assert env.run_context().pick(full="full", fast="fast") == "full"


def test_the_context_is_resolved_once_and_can_be_replaced(monkeypatch):
    monkeypatch.setenv(env.FAST_ENV_VAR, "1")
    first = env.current_context()
    monkeypatch.setenv(env.FAST_ENV_VAR, "0")
    assert env.current_context() is first and env.fast_mode()  # decided once
    env.use_context(dataclasses.replace(first, fast=False))
    assert not env.fast_mode()
    with pytest.raises(TypeError, match="RunContext"):
        env.use_context({"fast": True})


def test_device_defaults_to_what_is_there_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv(env.DEVICE_ENV_VAR, raising=False)
    device = env.run_context().device
    assert device.type == ("cuda" if torch.cuda.is_available() else device.type)
    assert torch.zeros(1, device=device).device.type == device.type
    monkeypatch.setenv(env.DEVICE_ENV_VAR, "cpu")
    assert env.run_context().device.type == "cpu" and env.get_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            env.run_context(device="cuda")


def test_cpu_context_decisions():
    context = env.run_context(device="cpu", fast=False)
    assert context.precision == "fp32" and context.amp_dtype is None
    assert context.channels_last and not context.pin_memory
    cores = env.cpu_count()
    assert context.num_workers == (min(4, cores // 4) or (1 if cores >= 2 else 0))
    assert env.run_context(device="cpu", fast=True).num_workers == 0  # no processes for tiny runs
    assert env.run_context(device="cpu", num_workers=3).loader_kwargs() == {"num_workers": 3, "pin_memory": False}
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        env.run_context(device="cpu", precision="bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        env.run_context(precision="int8")
    with pytest.raises(ValueError, match="num_workers"):
        env.run_context(num_workers=-1)


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


def test_data_dir_honours_the_environment_and_the_argument(monkeypatch, tmp_path):
    target = tmp_path / "somewhere else"
    monkeypatch.setenv(env.DATA_ENV_VAR, str(target))
    assert env.data_dir() == target and target.is_dir()
    assert env.run_context(data_dir=tmp_path / "given").data_dir == tmp_path / "given"


def test_seed_everything_repeats_random_draws():
    env.seed_everything(3)
    first = torch.rand(3)
    env.seed_everything(3)
    assert torch.equal(first, torch.rand(3))


def test_environment_report_has_the_essentials():
    report = env.environment_report()
    for key in ("torch", "device", "network", "data folder", "mode"):
        assert report[key]
