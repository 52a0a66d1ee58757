"""BATON's configuration (paper Eq. 7): :class:`RewardWeightedDiffusionConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from baton_tta.trainer.config import DiffusionTrainingConfig


@dataclass
class RewardWeightedDiffusionConfig(DiffusionTrainingConfig):
    r"""Arguments of [`RewardWeightedDiffusionTrainer`] (BATON, paper Eq. 7); shared fields are
    documented on [`DiffusionTrainingConfig`].

    > Parameters that control the loss

        beta (`float`, defaults to 0.5): Weight of the pretrain denoising loss (paper Eq. 7; paper 0.5, official script 0.25).
        reward_transform (`str`, defaults to "identity"): f in f(r)·‖target − pred‖²: "identity" (official code) or "exp" (paper text); rewards must lie in [0, 1] for both.

    > Parameters that control the data

        audio_column (`str`, defaults to "audio"): Audio column.
        label_column (`str`, defaults to "label"): Binary label column (1 aligned, 0 not aligned, -1 skipped).
        reward_column (`str`, defaults to "reward"): Reward column (in [0, 1]).
        source_column (`str`, defaults to "source"): Row source column: "human", "reward_model" or "unlabelled".
        human_to_reward_ratio (`float` or `None`, defaults to 1.0): Human rows per reward-model row; the larger group is subsampled (seeded). None keeps every row.
    """

    beta: float = field(
        default=0.5,
        metadata={
            "help": "Weight of the pretrain denoising loss (paper Eq. 7; paper 0.5, official script 0.25)."
        },
    )
    reward_transform: str = field(
        default="identity",
        metadata={
            "help": 'f in f(r)·‖target − pred‖²: "identity" (official code) or "exp" (paper text); '
            "rewards must lie in [0, 1] for both.",
            "choices": ["identity", "exp"],
        },
    )
    audio_column: str = field(default="audio", metadata={"help": "Audio column."})
    label_column: str = field(
        default="label", metadata={"help": "Binary label column (1 aligned, 0 not aligned, -1 skipped)."}
    )
    reward_column: str = field(default="reward", metadata={"help": "Reward column (in [0, 1])."})
    source_column: str = field(
        default="source",
        metadata={"help": 'Row source column: "human", "reward_model" or "unlabelled".'},
    )
    human_to_reward_ratio: float | None = field(
        default=1.0,
        metadata={
            "help": "Human rows per reward-model row; the larger group is subsampled (seeded). None keeps every row."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if self.reward_transform not in ("identity", "exp"):
            raise ValueError(f"reward_transform must be 'identity' or 'exp', got {self.reward_transform!r}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.human_to_reward_ratio is not None and self.human_to_reward_ratio <= 0:
            raise ValueError(f"human_to_reward_ratio must be > 0 or None, got {self.human_to_reward_ratio}")
