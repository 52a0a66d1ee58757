"""The objectives of stage 3 by name: which config, which trainer, which rows — one registry.

Built like :mod:`baton_tta.families.registry`: each objective registers once (:func:`register_objective`)
and every caller that chooses an objective by name — online rounds, ``train-online --objective``, the
benchmarks — looks it up here instead of keeping its own table. A new objective is one file (its
config, its trainer) plus one registration; nothing else changes.

What an objective trains on is one of :data:`ROW_KINDS`; online rounds build that kind of data from
a round's scored clips (:mod:`baton_tta.online.round_data`):

- ``"rewards"``: ``prompt``/``audio``/``reward`` rows, a reward per clip (BATON, Diffusion-KTO);
- ``"pairs"``: ``prompt``/``chosen``/``rejected``, one pair per prompt (Diffusion-DPO, CRPO);
- ``"prompts"``: prompts alone; the trainer samples and scores its own clips (GRPO).
"""

from __future__ import annotations

from dataclasses import dataclass

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

ROW_KINDS = ("rewards", "pairs", "prompts")


@dataclass(frozen=True)
class Objective:
    """One way to fine-tune a denoiser on feedback."""

    name: str
    config_class: type[DiffusionTrainingConfig]
    trainer_class: type[DiffusionTrainer]
    #: what it trains on (one of :data:`ROW_KINDS`)
    rows: str
    #: one line for help texts and cards
    description: str

    def __post_init__(self) -> None:
        if self.rows not in ROW_KINDS:
            raise ValueError(f"objective {self.name!r}: rows must be one of {ROW_KINDS}, got {self.rows!r}")

    @property
    def compares_clips(self) -> bool:
        """Whether it needs several clips of a prompt (pairs, or groups of samples)."""
        return self.rows in ("pairs", "prompts")


OBJECTIVES: dict[str, Objective] = {}


def register_objective(objective: Objective) -> Objective:
    """Add an objective under its name (a second registration of a name replaces the first: a
    user's own version of a built-in)."""
    OBJECTIVES[objective.name] = objective
    return objective


def objective_named(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; registered: {', '.join(sorted(OBJECTIVES))}")
    return OBJECTIVES[name]


for _builtin in (
    Objective(
        "baton",
        RewardWeightedDiffusionConfig,
        RewardWeightedDiffusionTrainer,
        "rewards",
        "BATON's reward-weighted loss (paper Eq. 7) on reward rows",
    ),
    Objective(
        "kto",
        DiffusionKTOConfig,
        DiffusionKTOTrainer,
        "rewards",
        "Diffusion-KTO on binary rows (a row's reward is its label)",
    ),
    Objective(
        "dpo",
        DiffusionDPOConfig,
        DiffusionDPOTrainer,
        "pairs",
        "Diffusion-DPO on best-vs-worst pairs per prompt (Tango 2's route)",
    ),
    Objective(
        "crpo",
        DiffusionCRPOConfig,
        DiffusionCRPOTrainer,
        "pairs",
        "CRPO: Diffusion-DPO plus the chosen clips' denoising loss (TangoFlux)",
    ),
    Objective(
        "grpo",
        DiffusionGRPOConfig,
        DiffusionGRPOTrainer,
        "prompts",
        "GRPO updates on the model's own samples, scored by the reward",
    ),
):
    register_objective(_builtin)
