"""Griffin-Lim as a vocoder component: the toy world's stand-in for HiFi-GAN.

A HiFi-GAN cannot be trained in minutes on a CPU (400 steps of mel + STFT loss left the oracle
unable to hear any event in vocoded clips), while the toy events survive Griffin-Lim inversion of
TANGO's mel front end. Shaped like transformers' ``SpeechT5HifiGan`` — the same config names for
the geometry the pipeline reads (``sampling_rate``, ``model_in_dim``, ``upsample_rates`` whose
product is the hop length), ``forward(log_mel) -> waveform`` — so :class:`TangoPipeline` has one
decode path and saves, loads and offloads it like any other component.
"""

from __future__ import annotations

import math

import torch
from diffusers import ModelMixin
from diffusers.configuration_utils import ConfigMixin, register_to_config
from transformers.audio_utils import mel_filter_bank


class GriffinLimVocoder(ModelMixin, ConfigMixin):
    """Log-mel (batch, frames, mels) → waveform (batch, (frames − 1) · hop).

    Mel → linear magnitude through the filters' pseudo-inverse (stored as a buffer, as TANGO stores
    its mel basis), then ``num_iters`` Griffin-Lim phase-recovery iterations from a fixed-seed initial
    phase, so the same mel always gives the same waveform.
    """

    @register_to_config
    def __init__(
        self,
        sampling_rate: int = 16000,
        model_in_dim: int = 64,
        upsample_rates: tuple[int, ...] = (160,),
        n_fft: int = 1024,
        win_length: int = 1024,
        fmin: float = 0.0,
        fmax: float = 8000.0,
        num_iters: int = 32,
    ):
        super().__init__()
        # TANGO's filters (Slaney scale and norm); this module imports nothing of baton_tta, so a saved
        # pipeline can ship it as its vocoder's code (``ship_component_code``)
        filters = mel_filter_bank(n_fft // 2 + 1, model_in_dim, fmin, fmax, sampling_rate, "slaney", "slaney")
        basis = torch.from_numpy(filters.T.copy()).float()
        self.register_buffer("inverse_mel_basis", torch.linalg.pinv(basis))
        self.register_buffer("window", torch.hann_window(win_length, periodic=True))

    @property
    def hop_length(self) -> int:
        return math.prod(self.config.upsample_rates)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        magnitude = (self.inverse_mel_basis @ log_mel.float().exp().transpose(1, 2)).clamp(min=0.0)
        window = self.window.float()
        length = (magnitude.shape[-1] - 1) * self.hop_length
        seeded = torch.Generator(device="cpu").manual_seed(0)
        phase = torch.rand(magnitude.shape, generator=seeded).to(magnitude.device)
        angles = torch.polar(torch.ones_like(magnitude), 2 * math.pi * phase)

        def to_waveform(angles: torch.Tensor) -> torch.Tensor:
            return torch.istft(
                magnitude * angles, cfg.n_fft, self.hop_length, cfg.win_length, window, length=length
            )

        for _ in range(cfg.num_iters):
            spectrum = torch.stft(
                to_waveform(angles), cfg.n_fft, self.hop_length, cfg.win_length, window, return_complex=True
            )
            angles = spectrum / spectrum.abs().clamp(min=1e-8)
        return to_waveform(angles)
