"""PANNs Cnn14 (Kong et al. 2020), the classifier behind FD (2048-d embedding), KL and IS (527-class
logits) in audioldm_eval, written here so the public checkpoint ``Cnn14_16k_mAP=0.438.pth`` loads by
its own key names (``spectrogram_extractor.stft.conv_real.weight``, ``logmel_extractor.melW``,
``bn0.*``, ``conv_block{1..6}.{conv1,conv2,bn1,bn2}.*``, ``fc1.*``, ``fc_audioset.*``).

The front end is computed at construction (windowed-DFT convolutions, librosa's Slaney mel filters,
power → dB with amin 1e-10), so random-weight models work too; a checkpoint overwrites it with its
stored copy. Loading uses ``torch.load(weights_only=True)`` and names every missing or unexpected key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers.audio_utils import mel_filter_bank

from baton_tta.metrics.checkpoints import load_public_checkpoint


@dataclass(frozen=True)
class Cnn14Config:
    """audioldm_eval's 16 kHz settings by default; ``channels`` scales the conv widths for tests."""

    sample_rate: int = 16000
    window_size: int = 512
    hop_size: int = 160
    mel_bins: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    classes_num: int = 527
    channels: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)


class _DFTConv(nn.Module):
    """torchlibrosa's STFT as two 1-D convolutions (real and imaginary parts of a windowed DFT)."""

    def __init__(self, n_fft: int):
        super().__init__()
        bins = n_fft // 2 + 1
        n = np.arange(n_fft)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
        dft = np.exp(-2j * np.pi * np.outer(n, np.arange(bins)) / n_fft) * window[:, None]
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=1, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=1, bias=False)
        self.conv_real.weight.data = torch.tensor(np.real(dft).T[:, None, :], dtype=torch.float32)
        self.conv_imag.weight.data = torch.tensor(np.imag(dft).T[:, None, :], dtype=torch.float32)


class _Spectrogram(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.stft = _DFTConv(n_fft)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(batch, samples) → power spectrogram (batch, 1, frames, bins); centre, reflect padding."""
        x = F.pad(waveform[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        real = F.conv1d(x, self.stft.conv_real.weight, stride=self.hop)
        imag = F.conv1d(x, self.stft.conv_imag.weight, stride=self.hop)
        return (real**2 + imag**2)[:, None].transpose(2, 3)


class _LogMel(nn.Module):
    def __init__(self, config: Cnn14Config):
        super().__init__()
        filters = mel_filter_bank(
            config.window_size // 2 + 1,
            config.mel_bins,
            config.fmin,
            config.fmax,
            config.sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.melW = nn.Parameter(torch.tensor(filters, dtype=torch.float32), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=1e-10))  # ref 1.0, no top_db


class _ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))
        return F.avg_pool2d(x, pool) if pool > 1 else x


class Cnn14(nn.Module):
    """Inference-only Cnn14: ``forward(waveform at 16 kHz) -> (embedding (B, 2048), logits (B, 527))``."""

    def __init__(self, config: Cnn14Config | None = None):
        super().__init__()
        self.config = config = config or Cnn14Config()
        self.spectrogram_extractor = _Spectrogram(config.window_size, config.hop_size)
        self.logmel_extractor = _LogMel(config)
        self.bn0 = nn.BatchNorm2d(config.mel_bins)
        widths = (1, *config.channels)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", _ConvBlock(widths[i], widths[i + 1]))
        self.fc1 = nn.Linear(config.channels[-1], config.channels[-1])
        self.fc_audioset = nn.Linear(config.channels[-1], config.classes_num)
        self.eval()

    @torch.no_grad()
    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))
        x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(6):
            x = getattr(self, f"conv_block{i + 1}")(x, pool=2 if i < 5 else 1)
        x = x.mean(dim=3)
        x = x.max(dim=2).values + x.mean(dim=2)
        embedding = F.relu(self.fc1(x))
        return embedding, self.fc_audioset(embedding)


def load_cnn14(path: str | os.PathLike, config: Cnn14Config | None = None) -> Cnn14:
    """Cnn14 from a PANNs checkpoint file (``{"model": state_dict}`` or a bare state dict)."""
    return load_public_checkpoint(Cnn14(config), path, "Cnn14", ignore=())
