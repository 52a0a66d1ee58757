"""Plain helpers shared by the tests: seeded generators, test signals, encoded audio."""

from __future__ import annotations

import io
import subprocess
import sys

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


def load_in_a_fresh_process(folder, env: dict) -> list[str]:
    """Load a saved pipeline with plain diffusers in a new process; returns its vocoder's class name
    and whether any baton_tta module was imported there ("False": the folder stands alone)."""
    code = (
        "import sys; from diffusers import DiffusionPipeline; "
        f"p = DiffusionPipeline.from_pretrained({str(folder)!r}, trust_remote_code=True); "
        "print(type(p.vocoder).__name__, any(m.startswith('baton_tta') for m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    return loaded.stdout.split()[-2:]


def run_script(script, args, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run a Python script to the end in a new process; it must succeed (its stderr tail otherwise)."""
    result = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result
