"""Online GRPO's configuration: :class:`DiffusionGRPOConfig` (TRL's ``GRPOConfig`` names)."""

from __future__ import annotations

from dataclasses import dataclass, field

from baton_tta.trainer.config import DiffusionTrainingConfig


@dataclass
class DiffusionGRPOConfig(DiffusionTrainingConfig):
    r"""Arguments of [`DiffusionGRPOTrainer`] (online GRPO on the family's own stochastic sampler);
    shared fields are [`DiffusionTrainingConfig`]'s, and TRL's `GRPOConfig` names are kept where
    they mean the same thing.

    > Parameters that control sampling

        num_generations (`int`, defaults to 4): Clips sampled per prompt and update: the group whose rewards are normalised together (TRL's name; at least 2).
        num_inference_steps (`int`, defaults to 50): Sampler steps per clip.
        guidance_scale (`float`, defaults to 3.0): Classifier-free guidance while sampling (1 switches it off); the guided sampler is the policy.
        eta (`float`, defaults to 1.0): DDIM's η for DDPM families (> 0 makes every step a Gaussian; DDPO uses 1.0). Rectified-flow families sample with their scheduler's stochastic mode and ignore it.

    > Parameters that control the update

        timestep_fraction (`float`, defaults to 1.0): Fraction of each clip's stochastic steps trained per update, drawn anew every update (Flow-GRPO's speed-up); 1 trains on every step.
        epsilon (`float`, defaults to 0.2): Lower clip range of the importance ratio (TRL's name).
        epsilon_high (`float` or `None`, defaults to None): Upper clip range; None uses epsilon (TRL's name).
        beta (`float`, defaults to 0.04): Weight of the KL penalty to the frozen reference model, the mean of the squared gap between the two models' step means over 2σ² (TRL's name; 0 needs no reference).
        num_iterations (`int`, defaults to 1): Updates per batch of rollouts (TRL's μ); above 1 the clipped ratio bounds how far the later updates move. Needs gradient_accumulation_steps 1 and save_steps a multiple of it.
        scale_rewards (`str`, defaults to "group"): Advantage scaling (TRL's name): "group" divides by the prompt group's standard deviation, "batch" by the batch's, "none" only subtracts the group mean.
        reward_weights (`list[float]` or `None`, defaults to None): Weight of each reward function in the summed reward (TRL's name); None weighs every one 1.

    > Changed defaults (from `DiffusionTrainingConfig`)

        per_device_train_batch_size (`int`, defaults to 2): Prompts per step and device; each gets num_generations clips.
        condition_dropout (`float`, defaults to 0.0): Unused by GRPO (the policy is trained on the conditioning it sampled with).
    """

    num_generations: int = field(
        default=4,
        metadata={
            "help": "Clips sampled per prompt and update: the group whose rewards are normalised together "
            "(TRL's name; at least 2)."
        },
    )
    num_inference_steps: int = field(default=50, metadata={"help": "Sampler steps per clip."})
    guidance_scale: float = field(
        default=3.0,
        metadata={
            "help": "Classifier-free guidance while sampling (1 switches it off); the guided sampler is the policy."
        },
    )
    eta: float = field(
        default=1.0,
        metadata={
            "help": "DDIM's η for DDPM families (> 0 makes every step a Gaussian; DDPO uses 1.0). Rectified-flow "
            "families sample with their scheduler's stochastic mode and ignore it."
        },
    )
    timestep_fraction: float = field(
        default=1.0,
        metadata={
            "help": "Fraction of each clip's stochastic steps trained per update, drawn anew every update "
            "(Flow-GRPO's speed-up); 1 trains on every step."
        },
    )
    epsilon: float = field(
        default=0.2, metadata={"help": "Lower clip range of the importance ratio (TRL's name)."}
    )
    epsilon_high: float | None = field(
        default=None, metadata={"help": "Upper clip range; None uses epsilon (TRL's name)."}
    )
    beta: float = field(
        default=0.04,
        metadata={
            "help": "Weight of the KL penalty to the frozen reference model, the mean of the squared gap between "
            "the two models' step means over 2σ² (TRL's name; 0 needs no reference)."
        },
    )
    num_iterations: int = field(
        default=1,
        metadata={
            "help": "Updates per batch of rollouts (TRL's μ); above 1 the clipped ratio bounds how far the later "
            "updates move. Needs gradient_accumulation_steps 1 and save_steps a multiple of it."
        },
    )
    scale_rewards: str = field(
        default="group",
        metadata={
            "help": "Advantage scaling (TRL's name): \"group\" divides by the prompt group's standard deviation, "
            '"batch" by the batch\'s, "none" only subtracts the group mean.',
            "choices": ["group", "batch", "none"],
        },
    )
    reward_weights: list[float] | None = field(
        default=None,
        metadata={
            "help": "Weight of each reward function in the summed reward (TRL's name); None weighs every one 1."
        },
    )
    per_device_train_batch_size: int = field(
        default=2,
        metadata={"help": "Prompts per step and device; each gets num_generations clips."},
    )
    condition_dropout: float = field(
        default=0.0,
        metadata={"help": "Unused by GRPO (the policy is trained on the conditioning it sampled with)."},
    )

    def __post_init__(self):
        super().__post_init__()
        if self.num_generations < 2:
            raise ValueError(
                f"num_generations must be at least 2 (a group to normalise), got {self.num_generations}"
            )
        if self.num_inference_steps < 1 or self.num_iterations < 1:
            raise ValueError("num_inference_steps and num_iterations must be at least 1")
        if not 0.0 < self.timestep_fraction <= 1.0:
            raise ValueError(f"timestep_fraction must lie in (0, 1], got {self.timestep_fraction}")
        if self.eta <= 0:
            raise ValueError(f"eta must be > 0 (eta = 0 makes DDIM deterministic: no policy), got {self.eta}")
        if self.epsilon <= 0 or (self.epsilon_high is not None and self.epsilon_high <= 0):
            raise ValueError("epsilon and epsilon_high must be > 0")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.scale_rewards not in ("group", "batch", "none"):
            raise ValueError(f"scale_rewards must be 'group', 'batch' or 'none', got {self.scale_rewards!r}")
        if self.num_iterations > 1:
            if self.gradient_accumulation_steps != 1:
                raise ValueError(
                    "num_iterations > 1 reuses one batch of rollouts per step: set gradient_accumulation_steps 1"
                )
            if self.save_strategy == "steps" and self.save_steps % self.num_iterations:
                raise ValueError(
                    f"save_steps ({self.save_steps}) must be a multiple of num_iterations ({self.num_iterations}): "
                    "a checkpoint between a batch's updates could not resume its rollouts"
                )

    @property
    def clip_range(self) -> tuple[float, float]:
        """(ε_low, ε_high) of the ratio clip."""
        return self.epsilon, self.epsilon if self.epsilon_high is None else self.epsilon_high
