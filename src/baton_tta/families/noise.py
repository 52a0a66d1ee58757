"""Noise processes: how a family's denoiser is trained, read off the scheduler its pipeline samples with.

A pipeline's scheduler says how the model is *sampled*; training must corrupt and target in the same
parameterisation, or the fine-tune drifts towards noise without any error. Each process owns the
four things a denoising loss needs — timestep sampling, noising, the target and the per-sample loss
weights — plus the timestep value the denoiser receives, and is checked against its scheduler's own
step (``tests/test_families.py``): noise with the process, hand the scheduler the exact target, and
the clean latents come back.

- :class:`DDPMProcess` — discrete DDPM with ε / v / sample prediction (TANGO, AudioLDM 2): the
  scheduler's ``add_noise`` / ``get_velocity``, Min-SNR weights as before.
- :class:`CosineVProcess` — Stable Audio Open's continuous-time v-objective. Its
  ``CosineDPMSolverMultistepScheduler`` is written in EDM form (``x = x₀ + σ·ε``, model input
  ``c_in·x = x/√(σ²+1)``, timestep ``atan(σ)·2/π``, ``x₀ = c_skip·x + c_out·v`` with
  ``c_out = −σ/√(σ²+1)`` for v-prediction). With ``t = atan(σ)·2/π`` that is exactly
  ``α = cos(πt/2)``, ``s = sin(πt/2)``, model input ``α·x₀ + s·ε`` and target ``v = α·ε − s·x₀``.
- :class:`RectifiedFlowProcess` — ``FlowMatchEulerDiscreteScheduler`` (Stable Audio 3):
  ``x_σ = (1−σ)·x₀ + σ·ε``, target ``ε − x₀`` (the Euler step adds ``(σ_next − σ)·v``), timestep
  ``σ·num_train_timesteps``, densities and weights from diffusers' ``training_utils``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import (
    compute_density_for_timestep_sampling,
    compute_loss_weighting_for_sd3,
    compute_snr,
)

TIMESTEP_DENSITIES = ("uniform", "logit_normal", "mode")
FLOW_LOSS_WEIGHTINGS = ("none", "sigma_sqrt", "cosmap")


def denoising_target(
    scheduler, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the UNet should predict for the scheduler's prediction type: the noise (epsilon), the
    velocity ``sqrt(ᾱ)·ε − sqrt(1−ᾱ)·x₀`` (v_prediction, TANGO) or the clean latents (sample)."""
    prediction_type = scheduler.config.prediction_type
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    if prediction_type == "sample":
        return latents
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")


SNR_WEIGHTINGS = ("tango", "v_target")


def min_snr_weights(
    scheduler, timesteps: torch.Tensor, snr_gamma: float | None, weighting: str = "tango"
) -> torch.Tensor:
    """Per-sample loss weights of Min-SNR-γ (Hang et al. 2023); ones when ``snr_gamma`` is None.

    ``"tango"`` (default): ``min(SNR, γ)/SNR`` whatever the prediction type — what TANGO's and the
    official BATON training code use, with v-prediction too. ``"v_target"``: ``min(SNR, γ)/(SNR + 1)``
    for v-prediction (the weight expressed in the v-target's units, as diffusers' training examples
    do), ``min(SNR, γ)/SNR`` otherwise."""
    if weighting not in SNR_WEIGHTINGS:
        raise ValueError(f"snr weighting must be one of {SNR_WEIGHTINGS}, got {weighting!r}")
    if snr_gamma is None:
        return torch.ones(timesteps.shape[0], device=timesteps.device)
    snr = compute_snr(scheduler, timesteps)
    clipped = torch.clamp(snr, max=snr_gamma)
    if weighting == "v_target" and scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1)
    return clipped / snr


@dataclass
class TimestepSettings:
    """The training-side choices a config makes about timesteps and weights (see the trainer config)."""

    snr_gamma: float | None = None
    snr_weighting: str = "tango"
    timestep_density: str = "uniform"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    flow_loss_weighting: str = "none"


#: the fields that shape the continuous timestep density (SD3's ``compute_density_for_timestep_sampling``)
DENSITY_SETTINGS = ("timestep_density", "logit_mean", "logit_std", "mode_scale")


def ignored_settings(settings: TimestepSettings, reads: frozenset[str]) -> list[str]:
    """``field=value`` for every field of ``settings`` set away from its default but not in ``reads``."""
    defaults = TimestepSettings()
    return [
        f"{f.name}={getattr(settings, f.name)!r}"
        for f in fields(settings)
        if f.name not in reads and getattr(settings, f.name) != getattr(defaults, f.name)
    ]


class NoiseProcess(ABC):
    """Timestep sampling, noising, target and loss weights of one training parameterisation."""

    #: short name for cards and logs
    name = "noise process"
    #: whether DDIM (η > 0 included) can sample this model: only the discrete DDPM families
    supports_ddim = False
    #: the :class:`TimestepSettings` fields this process reads; another one set is refused
    reads: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, scheduler_config, settings: TimestepSettings | None = None):
        self.settings = settings or TimestepSettings()
        ignored = ignored_settings(self.settings, self.reads)
        if ignored:
            raise ValueError(
                f"{self.name} training does not use {', '.join(ignored)} (a setting of another family's "
                f"recipe?): it would be recorded on the card while changing nothing. Remove it; "
                f"{self.name} reads {', '.join(sorted(self.reads)) or 'none of these settings'}"
            )

    @abstractmethod
    def sample_timesteps(self, size: int, device: torch.device) -> torch.Tensor:
        """Training timesteps, in the process's own units (integers for DDPM, t or σ in [0, 1])."""

    @abstractmethod
    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The noisy latents the denoiser sees at ``t``."""

    @abstractmethod
    def target(self, latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the denoiser should predict at ``t`` (the scheduler's step inverts it)."""

    @abstractmethod
    def loss_weights(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample weights of the squared error."""

    def model_timestep(self, t: torch.Tensor) -> torch.Tensor:
        """The timestep value the denoiser is called with (what the pipeline's loop passes)."""
        return t


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.to(like.device, like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


class DDPMProcess(NoiseProcess):
    """Discrete DDPM (ε, v or x₀ prediction), through ``DDPMScheduler`` itself."""

    name = "DDPM"
    supports_ddim = True
    reads = frozenset({"snr_gamma", "snr_weighting"})

    def __init__(self, scheduler_config, settings: TimestepSettings | None = None):
        super().__init__(scheduler_config, settings)
        # the config's actual values, never diffusers' defaults restored over them
        # (docs/architecture.md, "Pitfalls": _use_default_values)
        values = {k: v for k, v in scheduler_config.items() if k != "_use_default_values"}
        self.scheduler = DDPMScheduler.from_config(values)

    @property
    def prediction_type(self) -> str:
        return self.scheduler.config.prediction_type

    def sample_timesteps(self, size: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.scheduler.config.num_train_timesteps, (size,), device=device)

    def add_noise(self, latents, noise, t):
        return self.scheduler.add_noise(latents, noise, t)

    def target(self, latents, noise, t):
        return denoising_target(self.scheduler, latents, noise, t)

    def loss_weights(self, t):
        return min_snr_weights(self.scheduler, t, self.settings.snr_gamma, self.settings.snr_weighting)


class CosineVProcess(NoiseProcess):
    """Stable Audio Open's v-objective in continuous time t ∈ (0, 1) (see the module docstring).

    t is drawn uniformly (or from the configured density) over the scheduler's own noise range,
    ``[atan(σ_min), atan(σ_max)]·2/π``: the sampler never visits noise levels outside it."""

    name = "continuous-time v (cosine)"
    reads = frozenset({"snr_gamma", "snr_weighting", *DENSITY_SETTINGS})

    def __init__(self, scheduler_config, settings: TimestepSettings | None = None):
        super().__init__(scheduler_config, settings)
        if scheduler_config.get("prediction_type", "v_prediction") != "v_prediction":
            raise ValueError(
                f"CosineVProcess trains v-prediction; the scheduler says {scheduler_config['prediction_type']!r}"
            )
        if float(scheduler_config.get("sigma_data", 1.0)) != 1.0:
            raise ValueError("CosineVProcess assumes sigma_data = 1 (Stable Audio Open's setting)")
        self.t_min = math.atan(float(scheduler_config["sigma_min"])) * 2 / math.pi
        self.t_max = math.atan(float(scheduler_config["sigma_max"])) * 2 / math.pi

    def sample_timesteps(self, size, device):
        s = self.settings
        u = compute_density_for_timestep_sampling(
            s.timestep_density, size, s.logit_mean, s.logit_std, s.mode_scale, device=device
        )
        return self.t_min + (self.t_max - self.t_min) * u.to(device)

    @staticmethod
    def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)

    @staticmethod
    def edm_sigma(t: torch.Tensor) -> torch.Tensor:
        """The scheduler's σ for a continuous t (its ``precondition_noise`` inverted)."""
        return torch.tan(t * math.pi / 2)

    def add_noise(self, latents, noise, t):
        alpha, sigma = self.alpha_sigma(t)
        return _broadcast(alpha, latents) * latents + _broadcast(sigma, latents) * noise

    def target(self, latents, noise, t):
        alpha, sigma = self.alpha_sigma(t)
        return _broadcast(alpha, latents) * noise - _broadcast(sigma, latents) * latents

    def loss_weights(self, t):
        gamma = self.settings.snr_gamma
        if gamma is None:
            return torch.ones(t.shape[0], device=t.device)
        alpha, sigma = self.alpha_sigma(t.float())
        snr = (alpha / sigma) ** 2
        clipped = torch.clamp(snr, max=gamma)
        return clipped / (snr + 1) if self.settings.snr_weighting == "v_target" else clipped / snr


class RectifiedFlowProcess(NoiseProcess):
    """Rectified flow as ``FlowMatchEulerDiscreteScheduler`` samples it (see the module docstring).

    σ is drawn continuously from the configured density and mapped through the scheduler's static
    ``shift`` (``shift·u / (1 + (shift − 1)·u)``, the scheduler's own mapping): Stable Audio 3's
    scheduler has ``num_train_timesteps = 1``, so the discrete table SD3's script indexes has one entry."""

    name = "rectified flow"
    reads = frozenset({"flow_loss_weighting", *DENSITY_SETTINGS})

    def __init__(self, scheduler_config, settings: TimestepSettings | None = None):
        super().__init__(scheduler_config, settings)
        if scheduler_config.get("use_dynamic_shifting", False):
            raise ValueError("rectified-flow training with use_dynamic_shifting is not supported")
        self.shift = float(scheduler_config.get("shift", 1.0))
        self.num_train_timesteps = float(scheduler_config.get("num_train_timesteps", 1000))

    def sample_timesteps(self, size, device):
        s = self.settings
        u = compute_density_for_timestep_sampling(
            s.timestep_density, size, s.logit_mean, s.logit_std, s.mode_scale, device=device
        ).to(device)
        return self.shift * u / (1 + (self.shift - 1) * u)

    def add_noise(self, latents, noise, t):
        sigma = _broadcast(t, latents)
        return (1.0 - sigma) * latents + sigma * noise

    def target(self, latents, noise, t):
        return noise - latents

    def model_timestep(self, t):
        return t * self.num_train_timesteps

    def loss_weights(self, t):
        scheme = self.settings.flow_loss_weighting
        return compute_loss_weighting_for_sd3(scheme, t.float()).reshape(-1)


#: scheduler class name → the process that trains for it
PROCESS_FOR_SCHEDULER: dict[str, type[NoiseProcess]] = {
    "FlowMatchEulerDiscreteScheduler": RectifiedFlowProcess,
    "CosineDPMSolverMultistepScheduler": CosineVProcess,
}


def noise_process_for(scheduler, settings: TimestepSettings | None = None) -> NoiseProcess:
    """The process matching a pipeline's scheduler: rectified flow and the cosine v-objective by class,
    every scheduler with a discrete beta schedule (DDPM, DDIM, PNDM, DPM-Solver, …) as DDPM."""
    name = type(scheduler).__name__
    if name in PROCESS_FOR_SCHEDULER:
        return PROCESS_FOR_SCHEDULER[name](scheduler.config, settings)
    if "beta_schedule" in scheduler.config:
        return DDPMProcess(scheduler.config, settings)
    raise ValueError(
        f"no noise process for scheduler {name}: supported are {sorted(PROCESS_FOR_SCHEDULER)} and "
        "schedulers with a discrete beta schedule (DDPM family)"
    )
