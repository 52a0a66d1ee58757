"""DiffusionCRPOTrainer: TangoFlux's CRPO (Diffusion-DPO plus the chosen clips' denoising loss)."""

from __future__ import annotations

from baton_tta.trainer.crpo_config import DiffusionCRPOConfig
from baton_tta.trainer.dpo_trainer import DiffusionDPOTrainer


class DiffusionCRPOTrainer(DiffusionDPOTrainer):
    """TangoFlux's CRPO objective: Diffusion-DPO plus the chosen clips' own denoising loss
    (``rpo_alpha``, 1 by default as TangoFlux adds it), which keeps the model from drifting away
    from the clips it is told are better. Arguments as :class:`DiffusionDPOTrainer`'s, with
    [`DiffusionCRPOConfig`]."""

    card_title = "CRPO fine-tuned {model}"
    card_summary = (
        "{model} fine-tuned with CRPO (TangoFlux: Diffusion-DPO plus the chosen clips' denoising loss) "
        "on chosen / rejected clip pairs with baton-tta."
    )
    config_class = DiffusionCRPOConfig
