"""BATON stage 3: reward-weighted fine-tuning of any family's denoiser, and the objectives beside it
(Diffusion-DPO, CRPO, Diffusion-KTO, online GRPO)."""

from baton_tta.families.noise import min_snr_weights
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.config import (
    DiffusionCRPOConfig,
    DiffusionDPOConfig,
    DiffusionGRPOConfig,
    DiffusionKTOConfig,
    DiffusionTrainingConfig,
    RewardWeightedDiffusionConfig,
)
from baton_tta.trainer.dpo import DiffusionCRPOTrainer, DiffusionDPOTrainer
from baton_tta.trainer.grpo import DiffusionGRPOTrainer
from baton_tta.trainer.kto import DiffusionKTOTrainer
from baton_tta.trainer.loss import (
    diffusion_dpo_loss,
    diffusion_kto_loss,
    group_advantages,
    grpo_loss,
    reward_weighted_loss,
)
from baton_tta.trainer.trainer import RewardWeightedDiffusionTrainer

__all__ = [
    "DiffusionCRPOConfig",
    "DiffusionCRPOTrainer",
    "DiffusionDPOConfig",
    "DiffusionDPOTrainer",
    "DiffusionGRPOConfig",
    "DiffusionGRPOTrainer",
    "DiffusionKTOConfig",
    "DiffusionKTOTrainer",
    "DiffusionTrainer",
    "DiffusionTrainingConfig",
    "RewardWeightedDiffusionConfig",
    "RewardWeightedDiffusionTrainer",
    "diffusion_dpo_loss",
    "diffusion_kto_loss",
    "group_advantages",
    "grpo_loss",
    "min_snr_weights",
    "reward_weighted_loss",
]
