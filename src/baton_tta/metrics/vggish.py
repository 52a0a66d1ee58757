"""VGGish (Hershey et al. 2017) for FAD, written here so the public PyTorch port's checkpoint
(``vggish-10086976.pth``: ``features.{0,3,6,8,11,13}.*``, ``embeddings.{0,2,4}.*``) loads by its key
names. FAD uses the 128-d embedding of every 0.96 s frame *before the last ReLU* and without the
PCA/quantisation post-processing, pooled over a whole set, as audioldm_eval does.

The front end is VGGish's own: 16 kHz, 25 ms periodic-Hann frames every 10 ms (no padding),
|rfft(512)|, 64 HTK-mel bands from 125 to 7500 Hz, ``log(mel + 0.01)``, examples of 96 frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baton_tta.metrics.checkpoints import load_public_checkpoint

SAMPLE_RATE = 16000
WINDOW, HOP, FFT = 400, 160, 512
MEL_BANDS, MEL_LOW, MEL_HIGH = 64, 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz) / 700.0)


def htk_mel_matrix(num_bins: int = FFT // 2 + 1) -> np.ndarray:
    """(spectrogram bins, 64) triangular weights defined in the HTK mel domain; the DC bin is zeroed."""
    bins_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, num_bins))
    edges = np.linspace(_hz_to_mel(MEL_LOW), _hz_to_mel(MEL_HIGH), MEL_BANDS + 2)
    weights = np.empty((num_bins, MEL_BANDS))
    for band in range(MEL_BANDS):
        low, centre, high = edges[band : band + 3]
        rising = (bins_mel - low) / (centre - low)
        falling = (high - bins_mel) / (high - centre)
        weights[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def waveform_to_examples(waveform: np.ndarray) -> np.ndarray:
    """16 kHz mono waveform → log-mel examples (n, 1, 96, 64); clips shorter than 0.96 s give none."""
    wave = np.asarray(waveform, np.float64)
    if len(wave) < WINDOW:
        return np.zeros((0, 1, EXAMPLE_FRAMES, MEL_BANDS), np.float32)
    count = 1 + (len(wave) - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(wave, WINDOW)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)
    magnitude = np.abs(np.fft.rfft(frames * window, FFT))
    log_mel = np.log(magnitude @ htk_mel_matrix(magnitude.shape[1]) + LOG_OFFSET)
    examples = len(log_mel) // EXAMPLE_FRAMES
    return (
        log_mel[: examples * EXAMPLE_FRAMES]
        .reshape(examples, 1, EXAMPLE_FRAMES, MEL_BANDS)
        .astype(np.float32)
    )


@dataclass(frozen=True)
class VGGishConfig:
    """The public network by default; smaller widths for tests."""

    conv_channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512)
    hidden: int = 4096
    embedding: int = 128


class VGGish(nn.Module):
    """``forward(examples (n, 1, 96, 64)) -> embeddings (n, 128)`` before the final ReLU."""

    def __init__(self, config: VGGishConfig | None = None):
        super().__init__()
        self.config = config = config or VGGishConfig()
        c = config.conv_channels
        plan: list[int | None] = [
            c[0],
            None,
            c[1],
            None,
            c[2],
            c[3],
            None,
            c[4],
            c[5],
            None,
        ]  # None: max-pool
        layers: list[nn.Module] = []
        channels = 1
        for item in plan:
            if item is None:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers)
        flat = c[5] * (EXAMPLE_FRAMES // 16) * (MEL_BANDS // 16)
        self.embeddings = nn.Sequential(
            nn.Linear(flat, config.hidden),
            nn.ReLU(True),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(True),
            nn.Linear(config.hidden, config.embedding),
        )
        self.eval()

    @torch.no_grad()
    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # channels last, as the TF original flattens
        return self.embeddings(x)

    def embed_waveform(self, waveform: np.ndarray) -> np.ndarray:
        examples = waveform_to_examples(waveform)
        if len(examples) == 0:
            return np.zeros((0, self.config.embedding), np.float32)
        return self(torch.from_numpy(examples)).numpy()


def load_vggish(path: str | os.PathLike, config: VGGishConfig | None = None) -> VGGish:
    """VGGish from the PyTorch port's checkpoint (PCA parameters, if present, are not used)."""
    return load_public_checkpoint(
        VGGish(config), path, "VGGish", ignore=("pproc.", "pca_eigen_vectors", "pca_means")
    )
