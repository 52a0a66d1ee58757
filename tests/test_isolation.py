"""No test leaks process-wide state into the next: the snapshot finds each kind of change and puts it
back, and the scoped settings commands use end with the command."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import pytest
import torch
from tests.process_state import ProcessState

from baton_tta.families.registry import FAMILIES
from baton_tta.scoped import quiet_loggers, torch_threads


def _change_logger():
    logging.getLogger("transformers").setLevel(logging.CRITICAL)


def _add_handler():
    logging.getLogger("baton_tta").addHandler(logging.NullHandler())


def _set_environ():
    os.environ["BATON_TTA_LEAK_PROBE"] = "1"


def _threads():
    torch.set_num_threads(torch.get_num_threads() + 1)


def _dtype():
    torch.set_default_dtype(torch.float64)


def _grad():
    torch.set_grad_enabled(False)


def _register():
    FAMILIES["LeakedPipeline"] = object  # type: ignore[assignment]


def _chdir(tmp_path):
    os.chdir(tmp_path)


LEAKS = {
    "logger level": (_change_logger, "logger 'transformers'"),
    "logger handler": (_add_handler, "logger 'baton_tta'"),
    "environment": (_set_environ, "environment variable BATON_TTA_LEAK_PROBE"),
    "threads": (_threads, "torch threads"),
    "dtype": (_dtype, "torch default dtype"),
    "grad mode": (_grad, "torch grad mode"),
    "registry": (_register, "registry families"),
}


@pytest.mark.parametrize("kind", sorted(LEAKS))
def test_each_kind_of_leak_is_reported_and_put_back(kind):
    change, reported = LEAKS[kind]
    logging.getLogger("baton_tta")  # exists before the snapshot, as the libraries' loggers do
    before = ProcessState()
    change()
    leaks = before.restore()
    assert len(leaks) == 1 and leaks[0].startswith(reported), leaks
    assert ProcessState().restore() == []  # nothing left to report
    assert before.restore() == []  # and the restored state is the snapshot's


def test_the_current_directory_is_reported_and_put_back(tmp_path):
    before = ProcessState()
    _chdir(tmp_path)
    (leak,) = before.restore()
    assert leak.startswith("current directory") and os.getcwd() == before.cwd


def test_random_generators_are_restored_silently():
    """Seeding is what tests do: put back, not reported."""
    before = ProcessState()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    before.restore()
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    assert before.restore() == []
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


def test_quiet_loggers_ends_with_the_block():
    logger = logging.getLogger("baton_tta.data")
    logger.setLevel(logging.INFO)
    try:
        with quiet_loggers(["baton_tta.data"]):
            assert not logger.isEnabledFor(logging.INFO)
        assert logger.level == logging.INFO
        with pytest.raises(RuntimeError), quiet_loggers(["baton_tta.data"]):
            raise RuntimeError("a failing command")
        assert logger.level == logging.INFO
    finally:
        logger.setLevel(logging.NOTSET)


def test_torch_threads_ends_with_the_block():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
