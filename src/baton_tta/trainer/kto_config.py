"""Diffusion-KTO's configuration: :class:`DiffusionKTOConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from baton_tta.trainer.baton_config import RewardWeightedDiffusionConfig


@dataclass
class DiffusionKTOConfig(RewardWeightedDiffusionConfig):
    r"""Arguments of [`DiffusionKTOTrainer`] (Diffusion-KTO on BATON's binary rows); the data fields
    are [`RewardWeightedDiffusionConfig`]'s, shared fields [`DiffusionTrainingConfig`]'s.

    > Parameters that control the loss

        kto_beta (`float`, defaults to 2000.0): β of the Diffusion-KTO loss (TRL's KTOConfig calls it beta); it scales per-sample MSE gaps, so diffusion models need values in the thousands, as Diffusion-DPO does.
        desirable_weight (`float`, defaults to 1.0): λ_D, the weight of desirable (aligned) clips' loss (TRL's name).
        undesirable_weight (`float`, defaults to 1.0): λ_U, the weight of undesirable (not aligned) clips' loss (TRL's name); KTO's paper keeps λ_D·n_D / (λ_U·n_U) between 1 and 4/3.
        kto_reward_threshold (`float`, defaults to 0.5): A reward-model row is desirable when its score is at least this (human rows use their label).
        beta (`float`, defaults to 0.0): Weight of the pretrain denoising loss added to KTO (BATON's β term; 0 leaves pure KTO).
    """

    kto_beta: float = field(
        default=2000.0,
        metadata={
            "help": "β of the Diffusion-KTO loss (TRL's KTOConfig calls it beta); it scales per-sample MSE "
            "gaps, so diffusion models need values in the thousands, as Diffusion-DPO does."
        },
    )
    desirable_weight: float = field(
        default=1.0,
        metadata={"help": "λ_D, the weight of desirable (aligned) clips' loss (TRL's name)."},
    )
    undesirable_weight: float = field(
        default=1.0,
        metadata={
            "help": "λ_U, the weight of undesirable (not aligned) clips' loss (TRL's name); KTO's paper keeps "
            "λ_D·n_D / (λ_U·n_U) between 1 and 4/3."
        },
    )
    kto_reward_threshold: float = field(
        default=0.5,
        metadata={
            "help": "A reward-model row is desirable when its score is at least this (human rows use their label)."
        },
    )
    beta: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the pretrain denoising loss added to KTO (BATON's β term; 0 leaves pure KTO)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        for name in ("kto_beta", "desirable_weight", "undesirable_weight"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.kto_reward_threshold < 1.0:
            raise ValueError(f"kto_reward_threshold must lie in (0, 1), got {self.kto_reward_threshold}")
        if self.reward_transform != "identity":
            raise ValueError(
                "reward_transform is Eq. 7's; KTO thresholds the reward instead (leave it 'identity')"
            )
