"""Configuration of online rounds, TRL style: BATON's training arguments plus the round loop's own.

Each round fine-tunes with a registered objective's trainer (:mod:`baton_tta.trainer.objectives`), so
:class:`OnlineConfig` extends :class:`~baton_tta.trainer.RewardWeightedDiffusionConfig`; the shared
fields become the objective's own config class for each round
(:meth:`OnlineConfig.round_training_args`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.trainer import RewardWeightedDiffusionConfig
from baton_tta.trainer.objectives import objective_named


@dataclass
class OnlineConfig(RewardWeightedDiffusionConfig):
    r"""Arguments of [`OnlineRunner`]: rounds of generate → score → fine-tune → judge. Training fields
    are [`RewardWeightedDiffusionConfig`]'s and apply to every round's fine-tune.

    > Parameters that control the rounds

        num_rounds (`int`, defaults to 3): Rounds of generate → score → fine-tune → judge.
        objective (`str`, defaults to "baton"): A registered objective (baton_tta.trainer.objectives): baton (reward-weighted rows, paper Eq. 7), kto, dpo and crpo (best-vs-worst pairs per prompt), grpo (updates on the model's own samples, the reward model as the reward), or one you register.
        dpo_beta (`float`, defaults to 2000.0): β of the Diffusion-DPO loss (objective dpo).
        min_reward_margin (`float`, defaults to 0.1): A prompt gives a DPO pair only when its best and worst clip's rewards differ by at least this.
        clips_per_prompt (`int`, defaults to 5): Clips generated per training prompt and round.
        prompts_per_batch (`int`, defaults to 4): Prompts per pipeline call while generating.
        generation_seed (`int`, defaults to 0): Seed of round 1's clips; round r adds (r − 1) · 1 000 003 so rounds draw new noise.
        generation_audio_length_s (`float` or `None`, defaults to None): Length of generated clips in seconds; None uses audio_length_s.
        num_inference_steps (`int`, defaults to 50): Denoising steps when generating.
        ddim_sampling (`bool`, defaults to False): Generate and judge with DDIM built from the pipeline's scheduler config (DDPM families only); off, the pipeline's own scheduler samples. The caller's pipeline is never changed.
        guidance_scale (`float`, defaults to 3.0): Classifier-free guidance when generating.
        feedback_clips_per_round (`int`, defaults to 0): Clips of each round sampled for people to label (annotation app format, in round-r/feedback/clips); the reward model is retrained on every label so far before the round is scored, and labelled clips train as human rows. 0: no human feedback.

    > Parameters that control GRPO rounds (objective grpo; clips_per_prompt is the group size)

        grpo_prompts_per_step (`int`, defaults to 2): Prompts per GRPO update and device (max_steps updates per round).
        kl_beta (`float`, defaults to 0.04): Weight of GRPO's KL penalty to the round's starting model (DiffusionGRPOConfig's beta).
        timestep_fraction (`float`, defaults to 1.0): Fraction of each clip's stochastic steps a GRPO update trains on.
        eta (`float`, defaults to 1.0): DDIM's η of the GRPO sampler (DDPM families).
        epsilon (`float`, defaults to 0.2): Clip range of GRPO's importance ratio.

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
    dpo_beta: float = field(default=2000.0, metadata={"help": "β of the Diffusion-DPO loss (objective dpo)."})
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
    grpo_prompts_per_step: int = field(
        default=2,
        metadata={"help": "Prompts per GRPO update and device (max_steps updates per round)."},
    )
    kl_beta: float = field(
        default=0.04,
        metadata={
            "help": "Weight of GRPO's KL penalty to the round's starting model (DiffusionGRPOConfig's beta)."
        },
    )
    timestep_fraction: float = field(
        default=1.0,
        metadata={"help": "Fraction of each clip's stochastic steps a GRPO update trains on."},
    )
    eta: float = field(default=1.0, metadata={"help": "DDIM's η of the GRPO sampler (DDPM families)."})
    epsilon: float = field(default=0.2, metadata={"help": "Clip range of GRPO's importance ratio."})
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

    def round_training_args(self, output_dir: str | Path, round_index: int = 1):
        """This config's training fields as round ``round_index``'s trainer config, writing to
        ``output_dir``. GRPO rounds sample inside the trainer, so their seed is the round's
        (:meth:`round_seed`): each round draws new noise and a new prompt order."""
        target = objective_named(self.objective).config_class
        names = {f.name for f in dataclasses.fields(target) if f.init}
        values = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init and f.name in names
        }
        values.update(output_dir=str(output_dir), push_to_hub=False, hub_model_id=None)
        if objective_named(self.objective).rows == "prompts":  # the round loop's names for GRPO's own
            values.update(
                beta=self.kl_beta,
                num_generations=self.clips_per_prompt,
                per_device_train_batch_size=self.grpo_prompts_per_step,
                audio_length_s=self.clip_seconds,
                condition_dropout=0.0,
                seed=self.round_seed(round_index),
            )
        return target(**values)
