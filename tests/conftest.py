"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run every unit test on one PyTorch thread, then restore the setting.

    The tests use tiny tensors and models: threads gain nothing there and lose a lot when other
    work shares the CPU. One thread also makes results agree bit for bit with the subprocesses
    that the reliability tests start (they use one thread too).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def fresh_run_context():
    """Each test resolves the run context anew, so environment variables it sets take effect."""
    from course_utils.env import reset_context

    reset_context()
    yield
    reset_context()
