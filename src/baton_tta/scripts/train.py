"""``baton-tta train``: fine-tune TANGO with BATON's reward-weighted loss (paper Eq. 7).

    accelerate launch -m baton_tta.scripts.train --config recipes/baton_tango_temporal.yaml
    baton-tta train --config recipes/toy.yaml           # offline: the pretrained toy TANGO, toy-world data

Given no pipeline and no data at all, the run is the offline toy run (the shipped pretrained toy TANGO
on toy-world clips) and says so; given any of them, nothing built-in is filled in for the others.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.loading import load_preference_dataset
from baton_tta.scripts.builtin import (
    TOY,
    TOY_TANGO,
    resolve_pipeline,
    resolve_preference_data,
    resolve_pretrain_data,
)
from baton_tta.scripts.utils import HELP_ALL, PIPELINE_HELP, command, load_hint, parse, train_save_and_push
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer

logger = logging.getLogger(__name__)


@dataclass
class ScriptArguments:
    """Where the model and the data come from. "tiny-random" = random components / tone clips built in
    code; "toy" = the toy sound world's rendered clips, labelled by its oracle (offline)."""

    pipeline_name_or_path: str | None = field(
        default=None,
        metadata={"help": PIPELINE_HELP},
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "Preference dataset (Hub id, folder, files), 'toy' or 'tiny-random'."}
    )
    dataset_split: str = field(default="train", metadata={"help": "Split of the preference dataset."})
    pretrain_dataset_name: str | None = field(
        default=None,
        metadata={"help": "Pretrain (AudioCaps-like) data for the beta term, 'toy' or 'tiny-random'."},
    )
    reward_model_name_or_path: str | None = field(
        default=None, metadata={"help": "BatonRewardModel that scores rows without a reward."}
    )
    builtin_dataset_rows: int = field(
        default=24, metadata={"help": "Rows of a built-in ('tiny-random' / 'toy') preference dataset."}
    )


def resolve_sources(script: ScriptArguments) -> tuple[str, str, str | None]:
    """(pipeline, preference data, pretrain data): the offline demo when nothing is named,
    otherwise exactly what the user named."""
    pipeline, dataset, pretrain = (
        script.pipeline_name_or_path,
        script.dataset_name,
        script.pretrain_dataset_name,
    )
    if not (pipeline or dataset or pretrain):
        logger.info("no pipeline or data given: the offline toy run (pretrained toy TANGO, toy-world data)")
        return TOY_TANGO, TOY, TOY
    if not pipeline or not dataset:
        missing = [
            f"--{n}" for n, v in (("pipeline_name_or_path", pipeline), ("dataset_name", dataset)) if not v
        ]
        raise ValueError(f"give {' and '.join(missing)} (nothing built-in is filled in)")
    return pipeline, dataset, pretrain


def build_trainer(
    script: ScriptArguments,
    args: RewardWeightedDiffusionConfig,
    trainer_class: type[RewardWeightedDiffusionTrainer] = RewardWeightedDiffusionTrainer,
) -> RewardWeightedDiffusionTrainer:
    """The trainer of binary rows (BATON's, or ``trainer_class``: Diffusion-KTO) the arguments name."""
    pipeline_name, dataset_name, pretrain_name = resolve_sources(script)
    rows, seconds = script.builtin_dataset_rows, args.audio_length_s
    train_data = resolve_preference_data(dataset_name, rows, seconds, args.seed)
    if isinstance(train_data, str) and script.dataset_split != "train":
        train_data = load_preference_dataset(train_data, split=script.dataset_split, check_audio=False)
    pretrain = None
    if pretrain_name:
        pretrain = resolve_pretrain_data(pretrain_name, max(4, rows // 2), seconds, args.seed + 1)
    for role, name in (
        ("pipeline", pipeline_name),
        ("preference data", dataset_name),
        ("pretrain data", pretrain_name or "none (beta term off)"),
    ):
        logger.info("%s: %s", role, name)
    return trainer_class(
        resolve_pipeline(pipeline_name, seed=args.seed),
        args,
        train_dataset=train_data,
        pretrain_dataset=pretrain,
        reward_model=script.reward_model_name_or_path,
    )


def run_training(
    script: ScriptArguments,
    args: RewardWeightedDiffusionConfig,
    trainer_class: type[RewardWeightedDiffusionTrainer] = RewardWeightedDiffusionTrainer,
) -> str:
    """Train, save the pipeline (+ LoRA, card, curves) to ``args.output_dir``, push if asked; returns
    where the result loads from (the Hub id after a push)."""
    return train_save_and_push(build_trainer(script, args, trainer_class), args)


#: the offline toy recipe, shipped with the package (``recipes/toy.yaml`` is the same file)
TOY_RECIPE = Path(__file__).resolve().parents[1] / "toy" / "toy_train.yaml"
SOURCE_FLAGS = ("--pipeline_name_or_path", "--dataset_name", "--pretrain_dataset_name")


def with_default_recipe(argv: Sequence[str], recipe: Path | None = TOY_RECIPE) -> list[str]:
    """Without ``--config`` and without any pipeline or data flag, the offline toy recipe (its
    1 s clips included: the toy data did not fit the 10 s default); given either, nothing of it.
    Commands without a default recipe (``recipe`` None) say what to give instead."""
    argv = list(argv)
    names_a_source = any(arg.split("=")[0] in SOURCE_FLAGS for arg in argv)
    if "--config" in argv or names_a_source or {"-h", "--help", HELP_ALL} & set(argv):
        return argv
    if recipe is None:
        raise SystemExit(
            "give --config (recipes/kto_toy.yaml runs offline on the toy world) or "
            "--pipeline_name_or_path and --dataset_name"
        )
    return ["--config", str(recipe), *argv]


@command
def main(
    argv: Sequence[str] | None = None,
    config_class: type[RewardWeightedDiffusionConfig] = RewardWeightedDiffusionConfig,
    trainer_class: type[RewardWeightedDiffusionTrainer] = RewardWeightedDiffusionTrainer,
    default_recipe: Path | None = TOY_RECIPE,
) -> None:
    argv = with_default_recipe(sys.argv[1:] if argv is None else argv, default_recipe)
    script, args = parse((ScriptArguments, config_class), argv)
    location = run_training(script, args, trainer_class)
    if args.process_index == 0:
        print(load_hint(location))


if __name__ == "__main__":
    main()
