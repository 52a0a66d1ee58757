"""``baton-tta train-crpo``: fine-tune any supported text-to-audio pipeline with CRPO (TangoFlux:
Diffusion-DPO plus the chosen clips' denoising loss) on chosen / rejected pairs.

    accelerate launch -m baton_tta.scripts.train_crpo --pipeline_name_or_path you/tango-diffusers \\
        --dataset_name you/audio-alpaca-pairs --output_dir outputs/crpo-tango --rpo_alpha 1.0

The arguments are ``baton-tta train-dpo``'s, with ``rpo_alpha`` on (1 by default).
"""

from __future__ import annotations

from collections.abc import Sequence

from baton_tta.scripts import train_dpo
from baton_tta.scripts.utils import command
from baton_tta.trainer import DiffusionCRPOConfig, DiffusionCRPOTrainer


@command
def main(argv: Sequence[str] | None = None) -> None:
    train_dpo.main(argv, DiffusionCRPOConfig, DiffusionCRPOTrainer)


if __name__ == "__main__":
    main()
