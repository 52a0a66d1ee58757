"""``baton-tta train-dpo``: fine-tune any supported text-to-audio pipeline with Diffusion-DPO on chosen / rejected pairs (Tango 2).

    accelerate launch -m baton_tta.scripts.train_dpo --pipeline_name_or_path you/tango-diffusers \\
        --dataset_name you/audio-alpaca-pairs --output_dir outputs/dpo-tango
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.loading import load_preference_dataset
from baton_tta.scripts.builtin import resolve_pipeline
from baton_tta.scripts.utils import PIPELINE_HELP, command, load_hint, parse, train_save_and_push
from baton_tta.trainer import DiffusionDPOConfig, DiffusionDPOTrainer


@dataclass
class DPOScriptArguments:
    pipeline_name_or_path: str = field(metadata={"help": PIPELINE_HELP})
    dataset_name: str = field(
        metadata={"help": "Pairwise dataset (prompt, chosen, rejected): id, folder, files."}
    )
    dataset_split: str = field(default="train", metadata={"help": "Split of the pairwise dataset."})


@command
def main(
    argv: Sequence[str] | None = None,
    config_class: type[DiffusionDPOConfig] = DiffusionDPOConfig,
    trainer_class: type[DiffusionDPOTrainer] = DiffusionDPOTrainer,
) -> None:
    script, args = parse((DPOScriptArguments, config_class), argv)
    pairs = script.dataset_name
    if script.dataset_split != "train":
        pairs = load_preference_dataset(
            pairs, split=script.dataset_split, schema="pairwise", check_audio=False
        )
    trainer = trainer_class(
        resolve_pipeline(script.pipeline_name_or_path, args.seed), args, train_dataset=pairs
    )
    location = train_save_and_push(trainer, args)
    print(f"{trainer.card_title.format(model='pipeline')} saved to {Path(args.output_dir).resolve()}")
    print(load_hint(location))


if __name__ == "__main__":
    main()
