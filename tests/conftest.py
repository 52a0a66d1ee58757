"""Shared fixtures: offline by default, per-test Hugging Face cache, tiny pipeline, loopback Hub.

Plain helpers (signals, encoded audio) live in ``helpers.py``; fixtures only here."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from baton_tta.tiny import tiny_tango_pipeline
from hub_server import LoopbackHubServer, hub_endpoint

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_hf_home(tmp_path, monkeypatch):
    """Every test gets its own cache, so parallel workers never share downloaded files."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf_home" / "datasets"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_home" / "hub"))


@pytest.fixture
def tiny_pipe():
    pipe = tiny_tango_pipeline(seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture
def loopback_hub(request):
    """A Hub API server on 127.0.0.1 that every Hub client in this process talks to; a test that
    uses it is marked ``hub`` (select or skip them with ``-m hub`` / ``-m "not hub"``)."""
    request.node.add_marker(pytest.mark.hub)
    with LoopbackHubServer() as server, hub_endpoint(server.endpoint):
        yield server
