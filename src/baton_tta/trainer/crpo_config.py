"""CRPO's configuration (TangoFlux: DPO plus the chosen clips' loss): :class:`DiffusionCRPOConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from baton_tta.trainer.dpo_config import DiffusionDPOConfig


@dataclass
class DiffusionCRPOConfig(DiffusionDPOConfig):
    r"""Arguments of [`DiffusionCRPOTrainer`] (TangoFlux's CRPO: Diffusion-DPO plus the chosen clips'
    denoising loss); every field is [`DiffusionDPOConfig`]'s, with ``rpo_alpha`` on.

    > Parameters that control the loss

        rpo_alpha (`float` or `None`, defaults to 1.0): Weight of the chosen clips' own denoising loss (TangoFlux adds it with weight 1).
    """

    rpo_alpha: float | None = field(
        default=1.0,
        metadata={
            "help": "Weight of the chosen clips' own denoising loss (TangoFlux adds it with weight 1)."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if not self.rpo_alpha:
            raise ValueError("CRPO needs rpo_alpha > 0 (0 or None is plain Diffusion-DPO: use train-dpo)")
