"""Stochastic samplers whose every step is a Gaussian the trainer can evaluate: the policy of GRPO.

Policy-gradient fine-tuning (DDPO, Flow-GRPO) treats each denoising step as an action drawn from
``p_θ(x_prev | x_t) = N(μ_θ(x_t), σ_t²)`` and needs its log-density, now (under the sampling
weights) and later (under the weights being trained). Samples come from the pipeline's own
``__call__``: :func:`recording_steps` wraps its scheduler's ``step`` and keeps what each call saw
(the latents, the guided model output, the timestep) and returned, so nothing of the sampling loop,
guidance or decoding is re-implemented. A :class:`StochasticSampler` then says what the mean and
standard deviation of that step are for any model output — from the scheduler's own arithmetic:

- :class:`DDIMSampler` (DDPM families: TANGO, AudioLDM 2): DDIM with η > 0, as DDPO samples. The
  mean is ``DDIMScheduler.step`` with zero variance noise and σ_t the difference its step makes for
  unit noise, so both are the scheduler's own formula.
- :class:`FlowPingPongSampler` (rectified flow: Stable Audio 3): the scheduler's own stochastic mode
  (``stochastic_sampling``, the "ping-pong" sampler Stable Audio 3's distilled model ships with):
  ``x_prev = (1 − σ_next)·(x − σ·v) + σ_next·ε``, so the mean is ``(1 − σ_next)·(x − σ·v)`` and the
  standard deviation ``σ_next``. (Flow-GRPO's small-noise SDE is for models sampled by an ODE; the
  ping-pong sampler already is the model's stochastic sampler, so the policy is the deployed one.)

Steps whose σ is 0 (DDIM's and ping-pong's last) are deterministic and carry no log-probability;
samplers report them and trainers skip them. Stable Audio Open samples with an SDE solver on a
Brownian tree (``CosineDPMSolverMultistepScheduler``) whose steps are not single Gaussians here, and
is refused with that reason.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

from baton_tta.families.noise import DDPMProcess, RectifiedFlowProcess, noise_process_for


@dataclass
class RecordedStep:
    """One scheduler step as the pipeline's loop made it: its input latents, the (guided) model output,
    the timestep, the scheduler's step index (None for schedulers without one) and the latents returned."""

    sample: torch.Tensor
    model_output: torch.Tensor
    #: a tensor as recorded; a Python number once a trainer has read them all at once
    timestep: torch.Tensor | float
    step_index: int | None
    prev_sample: torch.Tensor


@dataclass
class DenoiserCall:
    """What the pipeline's loop passed its denoiser: the timestep argument of each call, and the
    keywords (conditioning, guidance batch included) of the first, which every call repeats."""

    timesteps: list[torch.Tensor]
    keywords: dict[str, Any]


@contextmanager
def recording_denoiser(denoiser: torch.nn.Module) -> Iterator[DenoiserCall]:
    """Record the denoiser's calls made inside the block: a trainer can then call it again exactly as
    the pipeline did (same conditioning, same unconditional input, same timestep values), whatever the
    family, instead of rebuilding each pipeline's guidance inputs."""
    calls = DenoiserCall([], {})

    def hook(module, args, kwargs):
        if len(args) < 2:
            raise ValueError(
                f"{type(module).__name__} was called without (sample, timestep) positionally; the "
                "recorder cannot tell its inputs apart"
            )
        calls.timesteps.append(torch.as_tensor(args[1]).detach().clone())
        if not calls.keywords:
            calls.keywords.update(
                {
                    key: value.detach().clone() if isinstance(value, torch.Tensor) else value
                    for key, value in kwargs.items()
                    if key != "return_dict"
                }
            )

    handle = denoiser.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


@contextmanager
def recording_steps(scheduler: Any) -> Iterator[list[RecordedStep]]:
    """Record every ``scheduler.step`` call made inside the block (the pipeline's own loop)."""
    original = scheduler.step
    records: list[RecordedStep] = []

    def step(model_output, timestep, sample, *args, **kwargs):
        output = original(model_output, timestep, sample, *args, **kwargs)
        after = getattr(scheduler, "step_index", None)  # set on the first step, advanced by each
        index = None if after is None else after - 1
        prev = output.prev_sample if hasattr(output, "prev_sample") else output[0]
        records.append(
            RecordedStep(
                sample.detach().clone(),
                model_output.detach().clone(),
                torch.as_tensor(timestep).detach().clone(),
                index,
                prev.detach().clone(),
            )
        )
        return output

    scheduler.step = step
    try:
        yield records
    finally:
        del scheduler.step  # the class's own method again


def gaussian_log_prob(value: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Per-sample log-density of ``value`` under ``N(mean, std²)`` elementwise, averaged over every
    non-batch dimension (as DDPO and Flow-GRPO average it: a ratio per step of comparable size
    whatever the latent shape). ``std`` is one value per sample."""
    std = std.reshape(-1, *([1] * (value.dim() - 1))).to(value.dtype)
    density = -((value - mean) ** 2) / (2 * std**2) - torch.log(std) - 0.5 * math.log(2 * math.pi)
    return density.flatten(1).mean(dim=1)


def gaussian_mean_kl(mean: torch.Tensor, reference_mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(N(mean, σ²) ‖ N(reference_mean, σ²)) = ‖mean − reference_mean‖² / (2σ²),
    averaged over non-batch dimensions like :func:`gaussian_log_prob` (Flow-GRPO's KL term)."""
    std = std.reshape(-1, *([1] * (mean.dim() - 1))).to(mean.dtype)
    return ((mean - reference_mean) ** 2 / (2 * std**2)).flatten(1).mean(dim=1)


class StochasticSampler(ABC):
    """A family's stochastic sampler: the scheduler a rollout samples with, the pipeline keywords it
    needs, and the Gaussian of each step for a given model output."""

    name = "stochastic sampler"

    def __init__(self, scheduler_config: Any):
        self.scheduler_config = scheduler_config

    @abstractmethod
    def new_scheduler(self) -> Any:
        """A fresh scheduler for one rollout (the caller's is never changed)."""

    def call_kwargs(self) -> dict[str, Any]:
        """Keywords the pipeline's ``__call__`` needs for this sampler (DDIM: ``eta``)."""
        return {}

    @abstractmethod
    def mean_and_std(
        self, scheduler: Any, model_output: torch.Tensor, step: RecordedStep
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's mean for ``model_output`` (differentiable in it) and σ, one value per sample."""


class DDIMSampler(StochasticSampler):
    """DDIM with η > 0 built from a DDPM family's scheduler config (DDPO's sampler)."""

    name = "DDIM"

    def __init__(self, scheduler_config: Any, eta: float):
        super().__init__(scheduler_config)
        if not eta > 0:
            raise ValueError(f"a DDIM policy needs eta > 0 (eta = 0 is deterministic), got {eta}")
        self.eta = float(eta)

    def new_scheduler(self) -> DDIMScheduler:
        return DDIMScheduler.from_config(self.scheduler_config)

    def call_kwargs(self) -> dict[str, Any]:
        return {"eta": self.eta}

    def mean_and_std(self, scheduler, model_output, step):
        def prev(noise: torch.Tensor) -> torch.Tensor:
            return scheduler.step(
                model_output, step.timestep, step.sample, eta=self.eta, variance_noise=noise
            ).prev_sample

        mean = prev(torch.zeros_like(step.sample))
        with torch.no_grad():
            std = (prev(torch.ones_like(step.sample)) - mean).flatten(1)[:, 0]
        return mean, std.clamp_min(0.0)


class FlowPingPongSampler(StochasticSampler):
    """``FlowMatchEulerDiscreteScheduler`` in its stochastic mode (see the module docstring)."""

    name = "rectified flow, stochastic (ping-pong)"

    def new_scheduler(self) -> FlowMatchEulerDiscreteScheduler:
        return FlowMatchEulerDiscreteScheduler.from_config(self.scheduler_config, stochastic_sampling=True)

    def mean_and_std(self, scheduler, model_output, step):
        if step.step_index is None:
            raise ValueError("the flow scheduler recorded no step index")
        # clones: the pipeline set the schedule under inference mode, whose tensors autograd cannot save
        sigma = scheduler.sigmas[step.step_index].clone().to(step.sample)
        sigma_next = scheduler.sigmas[step.step_index + 1].clone().to(step.sample)
        mean = (1.0 - sigma_next) * (step.sample - sigma * model_output)
        return mean, sigma_next.expand(step.sample.shape[0]).clone()


def stochastic_sampler_for(scheduler: Any, eta: float = 1.0) -> StochasticSampler:
    """The policy sampler for a pipeline's scheduler: DDIM (η) for DDPM families, the stochastic
    flow sampler for rectified flow; anything else is refused with the reason."""
    process = noise_process_for(scheduler)
    config = copy.deepcopy(dict(scheduler.config))
    config.pop("_use_default_values", None)  # the config's own values, not diffusers' defaults
    if isinstance(process, DDPMProcess):
        return DDIMSampler(config, eta)
    if isinstance(process, RectifiedFlowProcess):
        return FlowPingPongSampler(config)
    raise ValueError(
        f"no policy sampler for {type(scheduler).__name__} ({process.name}): GRPO needs a sampler whose "
        "every step is one Gaussian; DDPM families sample with DDIM (eta > 0) and rectified-flow families "
        "with the flow scheduler's stochastic mode, while Stable Audio Open's SDE solver draws its noise "
        "from a Brownian tree"
    )
