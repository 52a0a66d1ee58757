"""What ``trainers/train.py`` does, importable: script arguments → trainer → train → save → push."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint

from baton_tta.trainer.config import RewardWeightedDiffusionConfig
from baton_tta.trainer.trainer import RewardWeightedDiffusionTrainer

logger = logging.getLogger(__name__)
TINY = "tiny"
TOY = "toy"


@dataclass
class ScriptArguments:
    """Where the model and the data come from ("tiny" = built in code, offline; "toy" = the toy sound
    world's rendered clips, labelled by its oracle)."""

    pipeline_name_or_path: str = field(
        default=TINY, metadata={"help": "TangoPipeline folder or Hub id, or 'tiny'."}
    )
    dataset_name: str = field(
        default=TINY, metadata={"help": "Preference dataset (Hub id, folder, files), 'toy' or 'tiny'."}
    )
    dataset_split: str = field(default="train", metadata={"help": "Split of the preference dataset."})
    pretrain_dataset_name: str | None = field(
        default=None, metadata={"help": "Pretrain (AudioCaps-like) data, 'toy' or 'tiny'."}
    )
    reward_model_name_or_path: str | None = field(
        default=None, metadata={"help": "BatonRewardModel for unscored rows."}
    )
    tiny_dataset_rows: int = field(
        default=24, metadata={"help": "Rows of the built-in tiny / toy preference dataset."}
    )


def _resolve_data(
    name: str | None, args: RewardWeightedDiffusionConfig, script: ScriptArguments, pretrain: bool
):
    if name is None:
        return None
    if name == TOY:
        from baton_tta.toy.datasets import toy_preference_dataset, toy_pretrain_dataset

        if pretrain:
            return toy_pretrain_dataset(max(4, script.tiny_dataset_rows // 2), seed=args.seed + 1)
        clips = 4
        return toy_preference_dataset(
            num_prompts=max(2, script.tiny_dataset_rows // clips), clips_per_prompt=clips, seed=args.seed
        )
    if name != TINY:
        return name
    from baton_tta.testing import tiny_preference_dataset, tiny_pretrain_dataset

    if pretrain:
        return tiny_pretrain_dataset(
            num_rows=max(4, script.tiny_dataset_rows // 2), seconds=args.audio_length_s, seed=args.seed + 1
        )
    return tiny_preference_dataset(
        num_rows=script.tiny_dataset_rows, seconds=args.audio_length_s, seed=args.seed
    )


def run_training(script: ScriptArguments, args: RewardWeightedDiffusionConfig) -> Path:
    """Train, save the pipeline (+ LoRA, card, curves) to ``args.output_dir``, push if asked."""
    if script.pipeline_name_or_path == TINY:
        from baton_tta.testing import tiny_tango_pipeline

        pipeline = tiny_tango_pipeline(seed=args.seed)
    else:
        pipeline = script.pipeline_name_or_path
    train_data = _resolve_data(script.dataset_name, args, script, pretrain=False)
    if isinstance(train_data, str) and script.dataset_split != "train":
        from baton_tta.data import load_preference_dataset

        train_data = load_preference_dataset(
            train_data, split=script.dataset_split, schema="pairwise" if args.loss_type == "dpo" else "binary"
        )
    trainer = RewardWeightedDiffusionTrainer(
        pipeline,
        args,
        train_dataset=train_data,
        pretrain_dataset=_resolve_data(script.pretrain_dataset_name, args, script, pretrain=True),
        reward_model=script.reward_model_name_or_path,
    )
    resume = args.resume_from_checkpoint
    if resume in ("last", "true", "True"):
        resume = get_last_checkpoint(args.output_dir)
        logger.info("resuming from %s", resume or "scratch (no checkpoint found)")
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(args.output_dir)
    if args.push_to_hub:
        trainer.push_to_hub()
    return Path(args.output_dir)
