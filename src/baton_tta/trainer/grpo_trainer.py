"""DiffusionGRPOTrainer: online GRPO on a text-to-audio pipeline's own stochastic sampler.

Each update samples ``num_generations`` clips for every prompt of the batch with the pipeline's own
``__call__`` (its guidance, its decoder) on a stochastic scheduler (:mod:`baton_tta.families.sampling`:
DDIM with η > 0 for DDPM families, the flow scheduler's stochastic mode for rectified flow), records
every step, scores the clips with the reward functions (the BATON reward model, any scorer, a weighted
sum), turns rewards into advantages within each prompt's group, and maximises GRPO's clipped surrogate
over the recorded steps (all, or a fresh random ``timestep_fraction`` of them, as Flow-GRPO does),
with a KL penalty to the frozen reference model:

    L_j = −mean_i min(ρ_ij·A_i, clip(ρ_ij, 1 − ε, 1 + ε_high)·A_i) + β·mean_i KL_ij,
    ρ_ij = p_θ(x_{j+1} | x_j, c_i) / p_old(x_{j+1} | x_j, c_i)

The denoiser is called on exactly the inputs the pipeline gave it (recorded: conditioning,
unconditional input, timestep values), so the policy's density at the sampling weights is the
sampler's own (tested against the recorded step). Each step's loss is back-propagated on its own, so
memory holds one step's graph. Rollout noise is seeded by the global step and the prompt, and the
trained steps by the global step: a resumed run continues the same trajectory.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from diffusers import DiffusionPipeline
from peft import LoraConfig
from transformers import TrainerCallback

from baton_tta.data.audio import score_as_heard
from baton_tta.data.fingerprint import content_fingerprint
from baton_tta.data.generation import clip_seed, render_clips
from baton_tta.data.loading import load_raw
from baton_tta.families.sampling import (
    DenoiserCall,
    RecordedStep,
    gaussian_log_prob,
    gaussian_mean_kl,
    recording_denoiser,
    recording_steps,
    stochastic_sampler_for,
)
from baton_tta.scorers.registry import describe_scorer
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.baton_trainer import load_scorer
from baton_tta.trainer.grpo_config import DiffusionGRPOConfig
from baton_tta.trainer.loss import group_advantages, grpo_loss
from baton_tta.trainer.safety import write_atomically

logger = logging.getLogger(__name__)


@dataclass
class Rollouts:
    """One batch of sampled clips with what the update needs: the recorded steps, how the denoiser was
    called, the sampling policy's log-probabilities and σ per step, rewards and advantages (clips
    prompt-major, ``group_size`` per prompt)."""

    prompts: list[str]
    group_size: int
    scheduler: Any
    steps: list[RecordedStep]
    model_timesteps: list[torch.Tensor]
    denoiser_keywords: dict[str, Any]
    guided: bool
    old_log_probs: torch.Tensor
    stds: torch.Tensor
    rewards: torch.Tensor
    advantages: torch.Tensor
    waveforms: list[np.ndarray]
    #: the rewards as the scorers gave them, on the host (metrics read these: no device read)
    host_rewards: torch.Tensor
    #: steps with σ > 0 (the deterministic last step of DDIM and ping-pong has no density), read from
    #: the device once per rollout
    stochastic_steps: list[int]


class _PromptCollator:
    """Items are prompt positions; the trainer looks the captions up itself."""

    def __call__(self, items: list[dict[str, int]]) -> dict[str, torch.Tensor]:
        return {"index": torch.tensor([item["index"] for item in items])}


class DiffusionGRPOTrainer(DiffusionTrainer):
    """Fine-tune a pipeline's denoiser with GRPO on its own samples, rewarded by scorers.

    Args:
        pipeline: a pipeline of a family with a stochastic policy sampler (TANGO, AudioLDM 2, Stable
            Audio 3), or a folder / Hub id to load one from.
        args: [`DiffusionGRPOConfig`].
        train_dataset: prompts (a ``prompt`` column; other columns are ignored), or their id / path.
        reward_funcs: one scorer or a list — a ``BatonRewardModel``, its id / path, or any object with
            ``score(prompts, audios, sampling_rate) -> list[float]`` (TRL's name); summed with
            ``reward_weights``.
        peft_config: a ``peft.LoraConfig`` (overrides the ``use_lora``/``lora_*`` fields).
        callbacks: extra ``TrainerCallback``s.
    """

    card_title = "GRPO fine-tuned {model}"
    card_summary = (
        "{model} fine-tuned online with GRPO (group-normalised rewards, clipped importance ratios over "
        "the sampler's denoising steps, a KL penalty to the base model) with baton-tta."
    )
    args: DiffusionGRPOConfig

    samples_every_step = True  # its rollouts run the whole pipeline at every update

    def __init__(
        self,
        pipeline: DiffusionPipeline | str,
        args: DiffusionGRPOConfig,
        train_dataset: Dataset | str | None = None,
        reward_funcs: Any = None,
        peft_config: LoraConfig | None = None,
        callbacks: list[TrainerCallback] | None = None,
    ):
        funcs = reward_funcs if isinstance(reward_funcs, list | tuple) else [reward_funcs]
        if not funcs or any(f is None for f in funcs):
            raise ValueError("GRPO needs reward_funcs: a reward model (or its path) or a list of scorers")
        self.reward_funcs = [load_scorer(f, args.device) for f in funcs]
        weights = args.reward_weights or [1.0] * len(self.reward_funcs)
        if len(weights) != len(self.reward_funcs):
            raise ValueError(f"{len(weights)} reward_weights for {len(self.reward_funcs)} reward functions")
        self.reward_weights = [float(w) for w in weights]
        self.uses_reference = args.beta > 0
        self._rollouts: Rollouts | None = None
        self.rewards_seen: list[float] = []
        super().__init__(pipeline, args, train_dataset, peft_config, callbacks)
        self.sampler = stochastic_sampler_for(self.pipeline.scheduler, args.eta)

    # ------------------------------------------------------------------ data
    def _prepare_data(self, train_dataset: Dataset | str, args: DiffusionGRPOConfig):
        if isinstance(train_dataset, str):
            self.data_sources.append(train_dataset)
            source, rows = train_dataset, load_raw(train_dataset)
        else:
            source, rows = f"in-memory prompts ({len(train_dataset)} rows)", train_dataset
            self.data_sources.append(source)
        column = args.prompt_column
        if column not in rows.column_names:
            raise ValueError(f"{source}: no {column!r} column (columns: {rows.column_names})")
        captions = rows[column]
        bad = [i for i, caption in enumerate(captions) if not isinstance(caption, str) or not caption.strip()]
        if bad:
            raise ValueError(
                f"{source}: row(s) {bad[:10]} of column {column!r} hold no caption (blank or not text)"
                + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            )
        if not captions:
            raise ValueError(f"{source}: no prompts")
        self.prompts: list[str] = list(captions)
        self.data_fingerprints.append(f"prompts content {content_fingerprint(rows.select_columns([column]))}")
        return _PromptCollator(), len(self.prompts), 0

    # ------------------------------------------------------------------ rollouts
    def _rollout_seed(self) -> int:
        """Seeds of this update's clips start here: distinct for every update and prompt."""
        return self.args.seed + 1 + self.state.global_step * len(self.prompts) * self.args.num_generations

    @torch.no_grad()
    def roll_out(self, indices: list[int]) -> Rollouts:
        """Sample the group of every prompt in ``indices`` with the current weights, score and
        normalise; records what the update needs."""
        a = self.args
        prompts = [self.prompts[i] for i in indices]
        group = a.num_generations
        seeds = [[clip_seed(self._rollout_seed(), i, k, group) for k in range(group)] for i in indices]
        scheduler = self.sampler.new_scheduler()
        waveforms: list[np.ndarray] = []
        with self.recording(scheduler) as (sampler, steps, calls):
            for _, audios in render_clips(
                sampler,
                prompts,
                seeds,
                prompts_per_batch=len(prompts),
                audio_length_in_s=a.audio_length_s,
                num_inference_steps=a.num_inference_steps,
                guidance_scale=a.guidance_scale,
                desc="sampling rollouts",
                call_kwargs=self.sampler.call_kwargs(),
                progress=not a.disable_tqdm,
                mixed_precision=self.accelerator.mixed_precision,
            ):
                waveforms.extend(audios)
        return self.record(
            prompts, scheduler, steps, calls, self._rewards(prompts, group, waveforms), waveforms
        )

    @contextmanager
    def recording(
        self, scheduler: Any
    ) -> Iterator[tuple[DiffusionPipeline, list[RecordedStep], DenoiserCall]]:
        """The pipeline on the policy's ``scheduler`` with its denoiser in eval mode, and what its loop
        does inside the block: every scheduler step and how the denoiser was called."""
        sampler = self.family.pipeline_with(scheduler=scheduler)
        sampler.set_progress_bar_config(disable=True)
        denoiser = self.family.denoiser
        was_training = denoiser.training
        denoiser.eval()
        try:
            with recording_steps(scheduler) as steps, recording_denoiser(denoiser) as calls:
                yield sampler, steps, calls
        finally:
            denoiser.train(was_training)

    @torch.no_grad()
    def record(
        self,
        prompts: list[str],
        scheduler: Any,
        steps: list[RecordedStep],
        calls: DenoiserCall,
        host_rewards: torch.Tensor,
        waveforms: list[np.ndarray],
        stochastic_steps: list[int] | None = None,
    ) -> Rollouts:
        """What the update needs from one sampling: the steps as plain tensors, the sampling policy's
        log-probabilities and σ, the rewards' advantages. ``stochastic_steps`` (the steps with σ > 0)
        are read from σ on the device unless given (an estimate's fake σ holds no values)."""
        if len(calls.timesteps) != len(steps):
            raise RuntimeError(
                f"the pipeline called its denoiser {len(calls.timesteps)} times for {len(steps)} scheduler "
                "steps; GRPO needs one call per step"
            )
        steps = _plain_steps(steps)
        keywords = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in calls.keywords.items()}
        guided = _guided(keywords, steps[0].sample.shape[0])
        means_stds = [self.sampler.mean_and_std(scheduler, step.model_output, step) for step in steps]
        stds = torch.stack([std for _, std in means_stds])
        old = torch.stack(
            [
                gaussian_log_prob(step.prev_sample, mean, std.clamp_min(1e-12))
                for step, (mean, std) in zip(steps, means_stds, strict=True)
            ]
        )
        rewards = host_rewards.to(old.device, non_blocking=True)
        if stochastic_steps is None:
            stochastic = (stds > 0).all(dim=1).tolist()  # the rollout's one read of its σ
            stochastic_steps = [j for j, varies in enumerate(stochastic) if varies]
        return Rollouts(
            prompts=prompts,
            group_size=self.args.num_generations,
            scheduler=scheduler,
            steps=steps,
            model_timesteps=[t.clone() for t in calls.timesteps],
            denoiser_keywords=keywords,
            guided=guided,
            old_log_probs=old,
            stds=stds,
            rewards=rewards,
            advantages=group_advantages(rewards, self.args.num_generations, self.args.scale_rewards),
            waveforms=waveforms,
            host_rewards=host_rewards,
            stochastic_steps=stochastic_steps,
        )

    def _rewards(self, prompts: list[str], group: int, waveforms: list[np.ndarray]) -> torch.Tensor:
        """The weighted sum of every reward function's scores, clip by clip."""
        repeated = [p for p in prompts for _ in range(group)]
        total = torch.zeros(len(waveforms), dtype=torch.float32)
        for weight, scorer in zip(self.reward_weights, self.reward_funcs, strict=True):
            heard = score_as_heard(scorer, repeated, waveforms, self.family.sampling_rate)
            total += weight * torch.as_tensor(heard, dtype=torch.float32)
        return total

    # ------------------------------------------------------------------ the update
    def policy_output(self, model, rollouts: Rollouts, j: int) -> torch.Tensor:
        """The (guided) model output at recorded step ``j``: the denoiser called as the pipeline called it."""
        sample = rollouts.steps[j].sample
        model_input = torch.cat([sample, sample]) if rollouts.guided else sample
        output = self.family.denoise(
            model, model_input, rollouts.model_timesteps[j], rollouts.denoiser_keywords
        )
        if not rollouts.guided:
            return output
        unconditional, conditional = output.chunk(2)
        return unconditional + self.args.guidance_scale * (conditional - unconditional)

    def step_log_prob(self, model, rollouts: Rollouts, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """log p_θ of the recorded transition at step ``j`` for every clip, and the step's mean."""
        step = rollouts.steps[j]
        mean, std = self.sampler.mean_and_std(
            rollouts.scheduler, self.policy_output(model, rollouts, j), step
        )
        return gaussian_log_prob(step.prev_sample, mean, std), mean

    def trained_steps(self, rollouts: Rollouts) -> list[int]:
        """This update's steps: a fraction of the stochastic ones, drawn from a generator seeded by the
        global step (so a resumed run draws the same)."""
        candidates = rollouts.stochastic_steps
        if not candidates:
            raise ValueError("the sampler made no stochastic step: nothing to train (raise eta or steps)")
        count = max(1, round(self.args.timestep_fraction * len(candidates)))
        if count == len(candidates):
            return candidates
        generator = torch.Generator().manual_seed(self.args.seed * 7919 + self.state.global_step)
        chosen = torch.randperm(len(candidates), generator=generator)[:count]
        return sorted(candidates[int(i)] for i in chosen)

    def _prepare_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Prompt positions stay on the host, where the captions are looked up (no round trip)."""
        return inputs

    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        """Roll out (every ``num_iterations`` updates), then one backward pass per trained step."""
        model.train()
        a = self.args
        if self._rollouts is None or self.state.global_step % a.num_iterations == 0:
            if self._rollouts is None and self.state.global_step % a.num_iterations:
                raise RuntimeError(
                    "resumed between two updates of one batch of rollouts (see num_iterations)"
                )
            self._rollouts = self.roll_out(inputs["index"].tolist())  # prompt positions, kept on the host
            rewards = self._rollouts.host_rewards
            self.rewards_seen.extend(rewards.tolist())
            self._metrics["reward"].append(float(rewards.mean()))
            spread = rewards.reshape(-1, a.num_generations).std(1)
            self._metrics["reward_std"].append(float(spread.mean()))
            zero = float((spread == 0).float().mean())
            self._metrics["frac_reward_zero_std"].append(zero)  # TRL's name: groups with no advantage
            if zero == 1.0:
                logger.warning(
                    "update %d: every group's clips got the same reward: all advantages are zero, and "
                    "only the KL term moves the model",
                    self.state.global_step + 1,
                )
        return self._finish_loss(self.update(model, self._rollouts), {})

    def update(self, model, rollouts: Rollouts) -> torch.Tensor:
        """One backward pass per trained step of ``rollouts``; returns the loss (detached, already
        divided by the accumulation steps, as the Trainer's)."""
        a = self.args
        steps = self.trained_steps(rollouts)
        scale = 1.0 / (len(steps) * self.current_gradient_accumulation_steps)
        total = torch.zeros((), device=self.args.device)
        epsilon_low, epsilon_high = a.clip_range
        for n, j in enumerate(steps):
            sync = n == len(steps) - 1
            with nullcontext() if sync else self.accelerator.no_sync(model):
                log_probs, mean = self.step_log_prob(model, rollouts, j)
                kl = None
                if a.beta > 0:
                    with torch.no_grad(), self._reference(model) as reference:
                        _, reference_mean = self.step_log_prob(reference, rollouts, j)
                    kl = gaussian_mean_kl(mean, reference_mean, rollouts.stds[j])
                loss, metrics = grpo_loss(
                    log_probs,
                    rollouts.old_log_probs[j],
                    rollouts.advantages,
                    epsilon_low,
                    epsilon_high,
                    kl,
                    a.beta,
                )
                self.accelerator.backward(loss * scale)
            total += loss.detach() * scale
            for key, value in metrics.items():  # on the device: read once per logging step, in log()
                self._metrics[key].append(value.detach().float())
        return total

    # ------------------------------------------------------------------ checkpoints
    def _rewards_file(self, folder: str | Path) -> Path:
        return Path(folder) / f"rewards-rank{self.args.process_index}.json"

    def save_checkpoint_extras(self, folder: Path) -> None:
        """The rewards this process's rollouts saw so far, so a resumed run reports every clip's."""
        super().save_checkpoint_extras(folder)
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self._rewards_file(folder), json.dumps(self.rewards_seen))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = self._rewards_file(resume_from_checkpoint)
        if path.is_file():
            self.rewards_seen = json.loads(path.read_text(encoding="utf-8"))
        else:
            logger.warning("%s: no rewards of the earlier rollouts; the card's mean reward starts here", path)

    # ------------------------------------------------------------------ running and the card
    def update_costs(self) -> str:
        """What one update and the whole run cost, in clips and denoiser passes (printed at the start)."""
        a = self.args
        clips = a.per_device_train_batch_size * a.num_generations * a.world_size
        calls = 2 if a.guidance_scale > 1 else 1
        trained = max(1, math.ceil(a.timestep_fraction * a.num_inference_steps))
        updates = (
            a.max_steps
            if a.max_steps > 0
            else math.ceil(
                len(self.prompts) / (a.per_device_train_batch_size * a.world_size) * a.num_train_epochs
            )
        )
        generations = math.ceil(updates / a.num_iterations)
        sampling = clips * a.num_inference_steps * calls
        backward = clips * trained * calls
        reference = backward if a.beta > 0 else 0
        return (
            f"GRPO plan: {updates} updates, a batch of rollouts every {a.num_iterations}; per batch "
            f"{clips} clips ({a.per_device_train_batch_size * a.world_size} prompts × {a.num_generations}), "
            f"{sampling} denoiser forward passes to sample them; per update at most {backward} forward+backward "
            f"passes ({trained} of {a.num_inference_steps} steps{' × 2 for guidance' if calls == 2 else ''})"
            f" and {reference} reference forward passes. Whole run: {generations * clips} clips, "
            f"{generations * sampling} sampling passes, at most {updates * backward} forward+backward passes."
        )

    def train(self, resume_from_checkpoint: str | bool | None = None, **kwargs: Any):
        """The base's checks and resume, with the plan's costs printed first (main process)."""
        if self.is_world_process_zero():
            print(self.update_costs())
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def reward_sources(self) -> list[dict[str, Any]]:
        """Which scorers rewarded the run, with their checkpoints and weights."""
        return [
            {**describe_scorer(scorer), "weight": weight}
            for scorer, weight in zip(self.reward_funcs, self.reward_weights, strict=True)
        ]

    def run_record(self) -> dict[str, Any]:
        return {"rewards": json.loads(json.dumps(self.reward_sources(), default=str))}

    def card_lines(self) -> list[str]:
        rewards = ", ".join(
            f"{r['scorer']}"
            + (f" {r['checkpoint']}" if r.get("checkpoint") else "")
            + f" (weight {r['weight']:g})"
            for r in self.reward_sources()
        )
        return [f"Rewards: {rewards}."]

    def run_notes(self) -> list[str]:
        """The base's notes, and one when no group of clips ever differed in reward (a constant reward:
        the policy term had nothing to learn from)."""
        notes = super().run_notes()
        groups = torch.tensor(self.rewards_seen).reshape(-1, self.args.num_generations)
        if len(groups) and bool((groups.std(1) == 0).all()):
            notes.append(
                f"in all {len(groups)} groups of {self.args.num_generations} clips every clip got the same "
                "reward (is the reward constant?): every advantage was zero, so only the KL penalty moved "
                "the model"
            )
        return notes

    def card_facts(self) -> dict[str, Any]:
        seen = self.rewards_seen
        return {
            "num_rows": len(self.prompts),
            "rows_noun": "prompts",
            "mean_reward": sum(seen) / len(seen) if seen else float("nan"),
        }


def _plain_steps(steps: list[RecordedStep]) -> list[RecordedStep]:
    """Recorded steps as ordinary tensors (the pipeline ran under inference mode, whose tensors
    autograd cannot save), their timesteps as Python numbers read in one go: a scheduler indexing its
    host-side tables with a 0-d device tensor would read it back at every step of every update."""
    timesteps = torch.stack([torch.as_tensor(step.timestep).reshape(()) for step in steps]).tolist()
    return [
        RecordedStep(
            step.sample.clone(), step.model_output.clone(), t, step.step_index, step.prev_sample.clone()
        )
        for step, t in zip(steps, timesteps, strict=True)
    ]


def _guided(keywords: dict[str, Any], batch: int) -> bool:
    """Whether the pipeline called its denoiser on [unconditional, conditional] (twice the clips)."""
    sizes = {v.shape[0] for v in keywords.values() if isinstance(v, torch.Tensor) and v.dim() > 0}
    if sizes == {2 * batch}:
        return True
    if sizes <= {batch}:
        return False
    raise ValueError(f"the denoiser's conditioning has batch sizes {sorted(sizes)} for {batch} clips")
