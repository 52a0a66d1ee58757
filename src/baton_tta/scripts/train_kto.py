"""``baton-tta train-kto``: fine-tune any supported text-to-audio pipeline with Diffusion-KTO on
BATON's binary rows (aligned clips desirable, not aligned undesirable).

    accelerate launch -m baton_tta.scripts.train_kto --pipeline_name_or_path you/tango-diffusers \\
        --dataset_name you/baton-temporal --output_dir outputs/kto-tango
    baton-tta train-kto --config recipes/kto_toy.yaml      # offline: the pretrained toy TANGO

The data arguments are ``baton-tta train``'s (human and reward-model rows, a reward model for rows
without a score, the optional pretrain data of the β term). Unlike ``train`` it has no built-in default: name the
data, or run the offline toy recipe.
"""

from __future__ import annotations

from collections.abc import Sequence

from baton_tta.scripts import train
from baton_tta.scripts.utils import command
from baton_tta.trainer import DiffusionKTOConfig, DiffusionKTOTrainer


@command
def main(argv: Sequence[str] | None = None) -> None:
    train.main(argv, DiffusionKTOConfig, DiffusionKTOTrainer, default_recipe=None)


if __name__ == "__main__":
    main()
