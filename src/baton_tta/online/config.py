"""Configuration of online rounds, TRL style: BATON's training arguments plus the round loop's own.

Each round fine-tunes with a registered objective's trainer (:mod:`baton_tta.trainer.objectives`), so
:class:`OnlineConfig` extends :class:`~baton_tta.trainer.RewardWeightedDiffusionConfig`; the shared
fields become the objective's own config class for each round
(:meth:`OnlineConfig.round_training_args`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton_tta.data.settings import typed_settings
from baton_tta.trainer import DiffusionTrainingConfig, RewardWeightedDiffusionConfig
from baton_tta.trainer.objectives import Objective, objective_named


@dataclass
class OnlineConfig(RewardWeightedDiffusionConfig):
    r"""Arguments of [`OnlineRunner`]: rounds of generate → score → fine-tune → judge. Training fields
    are [`RewardWeightedDiffusionConfig`]'s and apply to every round's fine-tune.

    > Parameters that control the rounds

        num_rounds (`int`, defaults to 3): Rounds of generate → score → fine-tune → judge.
        objective (`str`, defaults to "baton"): A registered objective (baton_tta.trainer.objectives): baton (reward-weighted rows, paper Eq. 7), kto, dpo and crpo (best-vs-worst pairs per prompt), grpo (updates on the model's own samples, the reward model as the reward), or one you register.
        min_reward_margin (`float`, defaults to 0.1): A prompt gives a DPO pair only when its best and worst clip's rewards differ by at least this.
        clips_per_prompt (`int`, defaults to 5): Clips generated per training prompt and round.
        prompts_per_batch (`int`, defaults to 4): Prompts per pipeline call while generating.
        generation_seed (`int`, defaults to 0): Seed of round 1's clips; round r adds (r − 1) · 1 000 003 so rounds draw new noise.
        generation_audio_length_s (`float` or `None`, defaults to None): Length of generated clips in seconds; None uses audio_length_s.
        num_inference_steps (`int`, defaults to 50): Denoising steps when generating.
        ddim_sampling (`bool`, defaults to False): Generate and judge with DDIM built from the pipeline's scheduler config (DDPM families only); off, the pipeline's own scheduler samples. The caller's pipeline is never changed.
        guidance_scale (`float`, defaults to 3.0): Classifier-free guidance when generating.
        feedback_clips_per_round (`int`, defaults to 0): Clips of each round sampled for people to label (annotation app format, in round-r/feedback/clips); the reward model is retrained on every label so far before the round is scored, and labelled clips train as human rows. 0: no human feedback.

    > Parameters of the objective's own config

        objective_args (`dict[str, Any]`, `str` or `None`, defaults to None): The objective's own settings under its config class's names (grpo: beta, epsilon, eta, timestep_fraction, per_device_train_batch_size as prompts per update; dpo: dpo_beta), as a YAML mapping or a JSON string; the shared training fields above apply to every objective.

    > Parameters that control judging

        eval_clips_per_prompt (`int`, defaults to 2): Clips per held-out prompt that the judges hear.
        judge_metric (`str`, defaults to "clap_score"): Held-out metric that early stopping watches (higher is better).
        early_stopping_patience (`int`, defaults to 0): Stop after this many rounds in which the judge did not improve while the optimised reward rose; 0 never stops early.
    """

    num_rounds: int = field(default=3, metadata={"help": "Rounds of generate → score → fine-tune → judge."})
    objective: str = field(
        default="baton",
        metadata={
            "help": "A registered objective (baton_tta.trainer.objectives): baton (reward-weighted rows, "
            "paper Eq. 7), kto, dpo and crpo (best-vs-worst pairs per prompt), grpo (updates on the model's "
            "own samples, the reward model as the reward), or one you register."
        },
    )
    min_reward_margin: float = field(
        default=0.1,
        metadata={
            "help": "A prompt gives a DPO pair only when its best and worst clip's rewards differ by at least this."
        },
    )
    clips_per_prompt: int = field(
        default=5, metadata={"help": "Clips generated per training prompt and round."}
    )
    prompts_per_batch: int = field(
        default=4, metadata={"help": "Prompts per pipeline call while generating."}
    )
    generation_seed: int = field(
        default=0,
        metadata={
            "help": "Seed of round 1's clips; round r adds (r − 1) · 1 000 003 so rounds draw new noise."
        },
    )
    generation_audio_length_s: float | None = field(
        default=None,
        metadata={"help": "Length of generated clips in seconds; None uses audio_length_s."},
    )
    num_inference_steps: int = field(default=50, metadata={"help": "Denoising steps when generating."})
    ddim_sampling: bool = field(
        default=False,
        metadata={
            "help": "Generate and judge with DDIM built from the pipeline's scheduler config (DDPM families "
            "only); off, the pipeline's own scheduler samples. The caller's pipeline is never changed."
        },
    )
    guidance_scale: float = field(default=3.0, metadata={"help": "Classifier-free guidance when generating."})
    feedback_clips_per_round: int = field(
        default=0,
        metadata={
            "help": "Clips of each round sampled for people to label (annotation app format, in "
            "round-r/feedback/clips); the reward model is retrained on every label so far before the round "
            "is scored, and labelled clips train as human rows. 0: no human feedback."
        },
    )
    objective_args: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "The objective's own settings under its config class's names (grpo: beta, epsilon, eta, "
            "timestep_fraction, per_device_train_batch_size as prompts per update; dpo: dpo_beta), as a "
            "YAML mapping or a JSON string; the shared training fields above apply to every objective."
        },
    )
    eval_clips_per_prompt: int = field(
        default=2, metadata={"help": "Clips per held-out prompt that the judges hear."}
    )
    judge_metric: str = field(
        default="clap_score",
        metadata={"help": "Held-out metric that early stopping watches (higher is better)."},
    )
    early_stopping_patience: int = field(
        default=0,
        metadata={
            "help": "Stop after this many rounds in which the judge did not improve while the optimised reward "
            "rose; 0 never stops early."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        objective = objective_named(self.objective)
        self.objective_args = _objective_settings(self.objective_args, objective)
        if objective.rows == "prompts" and self.feedback_clips_per_round:
            raise ValueError(
                f"objective {self.objective} samples inside its updates, so a round has no clips to send to people: "
                "set feedback_clips_per_round 0"
            )
        if self.num_rounds < 1 or self.clips_per_prompt < 1 or self.eval_clips_per_prompt < 1:
            raise ValueError("num_rounds, clips_per_prompt and eval_clips_per_prompt must be at least 1")
        if objective.compares_clips and self.clips_per_prompt < 2:
            raise ValueError(
                f"objective {self.objective} compares clips of a prompt: clips_per_prompt must be at least 2"
            )
        if min(self.min_reward_margin, self.early_stopping_patience, self.feedback_clips_per_round) < 0:
            raise ValueError(
                "min_reward_margin, early_stopping_patience and feedback_clips_per_round must be ≥ 0"
            )

    @property
    def clip_seconds(self) -> float:
        return self.generation_audio_length_s or self.audio_length_s

    def round_seed(self, round_index: int) -> int:
        return self.generation_seed + (round_index - 1) * 1_000_003

    def round_training_args(self, output_dir: str | Path, round_index: int = 1) -> DiffusionTrainingConfig:
        """Round ``round_index``'s config: the objective's own config class, with the training fields it
        shares with this one (same name, same meaning: :func:`shared_training_fields`), then
        :attr:`objective_args`, writing to ``output_dir``. An objective that samples its own clips (GRPO)
        samples as the rounds generate — ``clips_per_prompt`` clips per prompt (its group), the rounds'
        steps and guidance — and draws with the round's seed (:meth:`round_seed`): each round new noise
        and a new prompt order."""
        objective = objective_named(self.objective)
        values = {name: getattr(self, name) for name in shared_training_fields(objective.config_class)}
        if objective.rows == "prompts":
            values.update(
                num_generations=self.clips_per_prompt,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=self.guidance_scale,
                audio_length_s=self.clip_seconds,
                seed=self.round_seed(round_index),
            )
        values.update(_objective_settings(self.objective_args, objective))
        values.update(output_dir=str(output_dir), push_to_hub=False, hub_model_id=None)
        return objective.config_class(**values)


def shared_training_fields(config_class: type[DiffusionTrainingConfig]) -> list[str]:
    """The fields an objective's config shares with rounds' own, with the same meaning: those of the
    most specific class both derive from (BATON's config for BATON and KTO, the shared
    :class:`~baton_tta.trainer.DiffusionTrainingConfig` otherwise: BATON's ``beta`` is not GRPO's),
    less any the objective's class declares again with its own meaning (GRPO's batch is prompts)."""
    base = (
        RewardWeightedDiffusionConfig
        if issubclass(config_class, RewardWeightedDiffusionConfig)
        else DiffusionTrainingConfig
    )
    own = {f.name: f for f in dataclasses.fields(config_class)}
    return [
        f.name
        for f in dataclasses.fields(base)
        if f.init
        and f.metadata.get("help") == own[f.name].metadata.get("help")
        and f.default == own[f.name].default
    ]


def _objective_settings(settings: dict[str, Any] | str | None, objective: Objective) -> dict[str, Any]:
    """``objective_args`` as a mapping, every name one of the objective's config fields."""
    if isinstance(settings, str):
        try:
            settings = json.loads(settings)
        except json.JSONDecodeError as error:
            raise ValueError(f"objective_args must be a JSON object, got {settings!r}: {error}") from None
    if not isinstance(settings, dict | None):
        raise ValueError(f"objective_args must be a mapping of field names to values, got {settings!r}")
    settings = dict(settings or {})
    typed = typed_settings(settings, objective.config_class, "objective_args")
    unknown = sorted(set(settings) - set(typed))
    if unknown:
        raise ValueError(
            f"objective_args {unknown} are not fields of {objective.config_class.__name__} "
            f"(objective {objective.name})"
        )
    return typed
