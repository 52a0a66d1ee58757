"""BATON stage 2: the audio reward model (frozen CLAP text + audio encoders → MLP → sigmoid)."""

from baton_tta.reward.modeling import BatonRewardConfig, BatonRewardModel, BatonRewardOutput

__all__ = ["BatonRewardConfig", "BatonRewardModel", "BatonRewardOutput"]
