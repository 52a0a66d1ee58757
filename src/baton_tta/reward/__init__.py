"""BATON stage 2: the audio reward model (frozen CLAP text + audio encoders → MLP → sigmoid)."""

from baton_tta.reward.cache import EmbeddingCache, backbone_fingerprint
from baton_tta.reward.labelling import label_with_reward_model
from baton_tta.reward.metrics import expected_calibration_error, reward_metrics
from baton_tta.reward.modeling import BatonRewardConfig, BatonRewardModel, BatonRewardOutput
from baton_tta.reward.training import RewardTrainingConfig, split_by_prompt, train_reward_model

__all__ = [
    "BatonRewardConfig",
    "BatonRewardModel",
    "BatonRewardOutput",
    "EmbeddingCache",
    "RewardTrainingConfig",
    "backbone_fingerprint",
    "expected_calibration_error",
    "label_with_reward_model",
    "reward_metrics",
    "split_by_prompt",
    "train_reward_model",
]
