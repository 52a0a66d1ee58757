"""A GRPO update at a family's published size, run on fake tensors: the rollout and the update.

A real :class:`~baton_tta.trainer.DiffusionGRPOTrainer` is built on the family's tiny stand-in with the
run's settings (its step count included) and makes one real update: its host reads are counted, and
its rollout says how many of the sampler's steps are stochastic and trained (the scheduler's rule,
not the size's). The trainer then takes over the published-size pipeline on fake tensors
(:func:`~baton_tta.estimate.training.at_published_size`) and runs its own code under
:class:`~baton_tta.estimate.fake.StepCounter`:

- **the rollout**: the pipeline's own ``__call__`` on the policy's stochastic scheduler, every step
  recorded (:meth:`DiffusionGRPOTrainer.recording`), then :meth:`DiffusionGRPOTrainer.record`. Each
  step adds the same recorded tensors and FLOPs, so the rollout is run at :data:`SHORT` and one more
  step and extended linearly to the run's count (a test checks it against a full count);
- **the update**: :meth:`DiffusionGRPOTrainer.update` on two trained steps (from the second on, the
  gradients are held: the peak) and the optimizer's step, with the whole recorded trajectory
  resident; its FLOPs are per trained step times the run's trained steps.

Rewards are constants (a fake clip cannot be scored; their values change no memory). The reward
models' own weights are counted beside (:func:`reward_model_bytes`)."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from baton_tta.data.generation import call_pipeline
from baton_tta.estimate.fake import StepCounter, storage_bytes
from baton_tta.estimate.measure import MemoryEstimate, add_weights, weights_by_dtype
from baton_tta.estimate.published_pipelines import reward_model_on_meta
from baton_tta.estimate.training import (
    CAPTION,
    PublishedSize,
    at_published_size,
    host_reads_per_step,
    optimizer_step,
    stand_in_settings,
)
from baton_tta.families.sampling import stochastic_sampler_for
from baton_tta.tiny import tiny_pipeline
from baton_tta.trainer.grpo_config import DiffusionGRPOConfig
from baton_tta.trainer.grpo_trainer import DiffusionGRPOTrainer, Rollouts

#: sampler steps run at the published size: the rest is linear in the step count (each step records
#: the same tensors and costs the same FLOPs), so two and three steps give the run's
SHORT = 2


class Loudness:
    """A reward every clip has: its mean absolute amplitude (the stand-in's, the GPU benchmark's and
    the tests' scorer: what it rewards changes no memory and no cost)."""

    def score(self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int) -> list[float]:
        return [float(np.abs(audio).mean()) for audio in audios]


@dataclass
class GRPOEstimate:
    """The two highest points of an update: sampling the rollouts, and training on them."""

    rollout: MemoryEstimate
    update: MemoryEstimate
    #: the sampler steps trained per update, of the stochastic ones
    trained_steps: int

    @property
    def peak(self) -> int:
        return max(self.rollout.peak, self.update.peak)

    @property
    def optimizer_state(self) -> int:
        return self.update.optimizer_state


def reward_model_bytes(sizes: list[str]) -> dict[str, int]:
    """The weights of a run's BATON reward models on the device, by dtype, one per size ("published":
    the published CLAP and a head; "tiny": the tiny stand-in's, or the built-in toy model's)."""
    total: dict[str, int] = {}
    for size in sizes:
        total = add_weights(total, weights_by_dtype(reward_model_on_meta(size)))
    return total


def estimate_grpo_update(
    args: DiffusionGRPOConfig, build: Any, reward_weights: dict[str, int] | None = None
) -> GRPOEstimate:
    """Peak memory and FLOPs of one GRPO update with ``args`` on the pipeline ``build("meta")`` returns;
    ``reward_weights`` (bytes by dtype) are the reward models' weights, on the device beside it."""
    with tempfile.TemporaryDirectory() as folder:
        trainer, published, host_reads, trained = grpo_at_published_size(args, build, folder)
        rollouts, short = sampled_rollout(trainer, args, SHORT)
        _, long = sampled_rollout(trainer, args, SHORT + 1)
        grown = long.peak - short.peak  # one more step: one more recorded step, twice (its plain copy)
        rollout = published.estimate
        rollout.weights = add_weights(rollout.weights, reward_weights or {})
        rollout.working_at_peak = long.peak + (args.num_inference_steps - SHORT - 1) * grown
        rollout.flops = long.flops + (args.num_inference_steps - SHORT - 1) * (long.flops - short.flops)
        rollout.host_reads = host_reads
        per_step = storage_bytes([vars(rollouts.steps[0]), rollouts.model_timesteps[0]])
        update = dataclasses.replace(
            rollout,
            what="GRPO update",
            batch=_record_bytes(rollouts) + (args.num_inference_steps - SHORT) * per_step,
        )
        rollout.gradients = 0  # set to none after each update: the rollout holds none
        trainer.args.timestep_fraction = 1.0  # every one of the short record's steps is trained
        with StepCounter() as training:
            trainer.update(published.model, rollouts)
            optimizer_step(published)
        update.working_at_peak = training.peak  # from the second trained step on, gradients are held
        update.flops = training.flops / SHORT * trained
        return GRPOEstimate(rollout, update, trained)


def grpo_at_published_size(
    args: DiffusionGRPOConfig, build: Any, folder: str
) -> tuple[DiffusionGRPOTrainer, PublishedSize, int, int]:
    """The stand-in GRPO trainer after its one real update, taken over by the published-size
    pipeline; with the host reads of that update and the number of sampler steps a run trains."""
    pipeline = build("meta")
    trainer = _stand_in_trainer(args, type(pipeline).__name__, folder)
    host_reads = host_reads_per_step(trainer)
    assert trainer._rollouts is not None  # the stand-in's update rolled out
    # which steps have σ > 0 is the scheduler's rule at this step count, read on the stand-in's
    # rollout; of those, the run trains its fraction
    trainer.args.timestep_fraction = args.timestep_fraction
    trained = len(trainer.trained_steps(trainer._rollouts))
    published = at_published_size(trainer, pipeline, "GRPO rollout")
    trainer.args.audio_length_s = args.audio_length_s
    trainer.sampler = stochastic_sampler_for(pipeline.scheduler, args.eta)
    return trainer, published, host_reads, trained


def sampled_rollout(
    trainer: DiffusionGRPOTrainer, args: DiffusionGRPOConfig, steps: int
) -> tuple[Rollouts, StepCounter]:
    """A rollout of ``steps`` sampler steps on the published-size pipeline; its record and counter."""
    prompts = [CAPTION] * args.per_device_train_batch_size
    clips = len(prompts) * args.num_generations
    scheduler = trainer.sampler.new_scheduler()
    with StepCounter() as counter:
        with trainer.recording(scheduler) as (sampler, recorded, calls):
            call_pipeline(
                sampler,
                prompts,
                [torch.Generator().manual_seed(i) for i in range(clips)],
                args.audio_length_s,
                steps,
                args.guidance_scale,
                trainer.accelerator.mixed_precision,
                {"output_type": "pt", **trainer.sampler.call_kwargs()},  # numpy would read fake data
            )
        rollouts = trainer.record(
            prompts, scheduler, recorded, calls, torch.ones(clips), [], stochastic_steps=list(range(steps))
        )
        del recorded, calls
    return rollouts, counter


def _record_bytes(rollouts: Rollouts) -> int:
    """What the recorded trajectory holds on the device through the update."""
    return storage_bytes({**vars(rollouts), "steps": [vars(step) for step in rollouts.steps]})


def _stand_in_trainer(
    args: DiffusionGRPOConfig, pipeline_class_name: str, folder: str
) -> DiffusionGRPOTrainer:
    """The GRPO trainer with ``args`` on the tiny pipeline of the family, rewarded by loudness: one
    prompt, a group of two and one trained step (the reads of an update do not depend on how many
    clips or steps it trains; its sampler runs the run's step count)."""
    settings = stand_in_settings(
        args,
        folder,
        num_generations=2,
        per_device_train_batch_size=1,
        timestep_fraction=1e-6,  # one step: at least one is trained
    )
    prompts = Dataset.from_dict({"prompt": [CAPTION]})
    return DiffusionGRPOTrainer(
        tiny_pipeline(pipeline_class_name), settings, prompts, reward_funcs=Loudness()
    )
