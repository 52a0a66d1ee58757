"""BATON stage 3: reward-weighted fine-tuning of any family's denoiser, and the objectives beside it
(Diffusion-DPO, CRPO, Diffusion-KTO, online GRPO)."""

from baton_tta.families.noise import min_snr_weights
from baton_tta.trainer.base import DiffusionTrainer
from baton_tta.trainer.baton_config import RewardWeightedDiffusionConfig
from baton_tta.trainer.baton_trainer import RewardWeightedDiffusionTrainer
from baton_tta.trainer.config import DiffusionTrainingConfig
from baton_tta.trainer.crpo_config import DiffusionCRPOConfig
from baton_tta.trainer.crpo_trainer import DiffusionCRPOTrainer
from baton_tta.trainer.dpo_config import DiffusionDPOConfig
from baton_tta.trainer.dpo_trainer import DiffusionDPOTrainer
from baton_tta.trainer.grpo_config import DiffusionGRPOConfig
from baton_tta.trainer.grpo_trainer import DiffusionGRPOTrainer
from baton_tta.trainer.kto_config import DiffusionKTOConfig
from baton_tta.trainer.kto_trainer import DiffusionKTOTrainer
from baton_tta.trainer.loss import (
    diffusion_dpo_loss,
    diffusion_kto_loss,
    group_advantages,
    grpo_loss,
    reward_weighted_loss,
)

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
