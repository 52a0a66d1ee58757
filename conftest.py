"""What every test of the repository shares (``tests/`` and the lab's ``benchmarks/toy/tests/``):
offline, one torch thread, a Hugging Face cache of its own per test."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
# gradio's Blocks sets it to "True" whenever analytics are off (the annotation app): set so from the
# start, as the app does the next one, so that building an app is not a change of the environment
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "True"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # what importing the annotation app sets
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch
from tests.process_state import ProcessState

torch.set_num_threads(1)
# The libraries configure their loggers on first import; done here, before any test's snapshot.
import datasets  # noqa: E402,F401
import diffusers  # noqa: E402,F401
import transformers  # noqa: E402,F401
from hypothesis import settings as hypothesis_settings  # noqa: E402

# The toy world registers its scorer (toy-oracle) when imported, as a plug-in does: a module imports
# once, so a registration first made inside a test could not be made again after its restore.
import baton_tta.toy.online  # noqa: E402,F401

# Property-based tests give one verdict on every machine: the same examples each run (derandomize), no
# example database left in the working tree, no per-example deadline on a loaded machine.
hypothesis_settings.register_profile("suite", derandomize=True, database=None, deadline=None)
hypothesis_settings.load_profile("suite")


@pytest.fixture(autouse=True)
def process_state_restored():
    """Nothing a test changes process-wide reaches the next test on the same worker: the state is
    restored after each test, and a test that left loggers, environment, current directory, torch's
    settings or a registry changed fails here (``tests/process_state.py`` says what is covered)."""
    before = ProcessState()
    yield
    leaks = before.restore()
    if leaks:
        pytest.fail("the test left process-wide state changed (restored now):\n  " + "\n  ".join(leaks))


@pytest.fixture(autouse=True)
def isolated_hf_home(process_state_restored, tmp_path, monkeypatch):
    """Every test gets its own cache, so parallel workers never share downloaded files."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_home" / "datasets"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))
