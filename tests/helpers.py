"""Plain helpers shared by the tests: seeded generators, test signals, encoded audio."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import torch


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sine(rate: int, seconds: float = 0.5, freq: float = 440.0, amplitude: float = 0.5):
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(samples, rate: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()
