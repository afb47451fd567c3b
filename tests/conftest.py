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
