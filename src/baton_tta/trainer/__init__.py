"""BATON stage 3: reward-weighted fine-tuning of TANGO's UNet, and Diffusion-DPO beside it."""

from baton_tta.families.noise import min_snr_weights
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.config import (
    DiffusionDPOConfig,
    DiffusionTrainingConfig,
    RewardWeightedDiffusionConfig,
)
from baton_tta.trainer.dpo import DiffusionDPOTrainer
from baton_tta.trainer.loss import diffusion_dpo_loss, reward_weighted_loss
from baton_tta.trainer.trainer import RewardWeightedDiffusionTrainer

__all__ = [
    "DiffusionDPOConfig",
    "DiffusionDPOTrainer",
    "DiffusionTrainer",
    "DiffusionTrainingConfig",
    "RewardWeightedDiffusionConfig",
    "RewardWeightedDiffusionTrainer",
    "diffusion_dpo_loss",
    "min_snr_weights",
    "reward_weighted_loss",
]
