"""Shared fixtures: offline by default, per-test Hugging Face cache, tiny pipeline, loopback Hub."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from baton_tta.hub.loopback_server import LoopbackHubServer, hub_endpoint
from baton_tta.testing import tiny_tango_pipeline

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
def loopback_hub():
    """A Hub API server on 127.0.0.1 that every Hub client in this process talks to."""
    with LoopbackHubServer() as server, hub_endpoint(server.endpoint):
        yield server


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sine(rate: int, seconds: float = 0.5, freq: float = 440.0, amplitude: float = 0.5):
    import numpy as np

    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(samples, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()
