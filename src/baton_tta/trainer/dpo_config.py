"""Diffusion-DPO's configuration (Tango 2's route): :class:`DiffusionDPOConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from baton_tta.trainer.config import DiffusionTrainingConfig


@dataclass
class DiffusionDPOConfig(DiffusionTrainingConfig):
    r"""Arguments of [`DiffusionDPOTrainer`] (Diffusion-DPO on chosen / rejected pairs, as Tango 2);
    shared fields are documented on [`DiffusionTrainingConfig`].

    > Parameters that control the loss

        dpo_beta (`float`, defaults to 2000.0): β of the Diffusion-DPO loss (Tango 2 uses 2000–5000).
        rpo_alpha (`float` or `None`, defaults to None): Weight of the chosen clips' own denoising loss added to Diffusion-DPO (TRL's name; TangoFlux's CRPO adds it with weight 1); None or 0 leaves plain Diffusion-DPO.

    > Parameters that control the data

        chosen_column (`str`, defaults to "chosen"): Preferred-clip column.
        rejected_column (`str`, defaults to "rejected"): Dispreferred-clip column.
    """

    dpo_beta: float = field(
        default=2000.0, metadata={"help": "β of the Diffusion-DPO loss (Tango 2 uses 2000–5000)."}
    )
    rpo_alpha: float | None = field(
        default=None,
        metadata={
            "help": "Weight of the chosen clips' own denoising loss added to Diffusion-DPO (TRL's name; "
            "TangoFlux's CRPO adds it with weight 1); None or 0 leaves plain Diffusion-DPO."
        },
    )
    chosen_column: str = field(default="chosen", metadata={"help": "Preferred-clip column."})
    rejected_column: str = field(default="rejected", metadata={"help": "Dispreferred-clip column."})

    def __post_init__(self):
        super().__post_init__()
        if self.dpo_beta <= 0:
            raise ValueError(f"dpo_beta must be > 0, got {self.dpo_beta}")
        if self.rpo_alpha is not None and self.rpo_alpha < 0:
            raise ValueError(f"rpo_alpha must be >= 0 (or None), got {self.rpo_alpha}")
