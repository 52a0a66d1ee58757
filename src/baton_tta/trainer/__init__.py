"""BATON stage 3: reward-weighted fine-tuning of TANGO's UNet (and Diffusion-DPO)."""

from baton_tta.trainer.config import RewardWeightedDiffusionConfig
from baton_tta.trainer.loss import diffusion_dpo_loss, min_snr_weights, reward_weighted_loss
from baton_tta.trainer.trainer import RewardWeightedDiffusionTrainer

__all__ = [
    "RewardWeightedDiffusionConfig",
    "RewardWeightedDiffusionTrainer",
    "diffusion_dpo_loss",
    "min_snr_weights",
    "reward_weighted_loss",
]
