"""What ``trainers/train_reward_model.py`` and ``label_with_reward_model.py`` do, importable."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import create_repo, upload_folder

from baton_tta.data import load_preference_dataset
from baton_tta.reward.modeling import BatonRewardModel
from baton_tta.reward.training import RewardTrainingConfig, RewardTrainingResult, train_reward_model

logger = logging.getLogger(__name__)
TINY = "tiny"
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "baton_tta", "embeddings")


@dataclass
class RewardScriptArguments:
    dataset_name: str = field(
        metadata={"help": "Binary preference dataset with human labels (id, folder, files)."}
    )
    output_dir: str = field(
        default="outputs/reward-model", metadata={"help": "Model, card, metrics, histogram."}
    )
    dataset_split: str = field(
        default="train", metadata={"help": "Split to train on (validation is split off by prompt)."}
    )
    clap_model_name_or_path: str = field(
        default="laion/clap-htsat-unfused", metadata={"help": "CLAP checkpoint, or 'tiny'."}
    )
    text_backbone: str = field(default="clap", metadata={"help": "'clap' or 't5' (Table 8 ablation)."})
    loss: str = field(default="bce", metadata={"help": "'bce' (paper) or 'mse'."})
    head_hidden_size: int = field(
        default=512, metadata={"help": "Hidden width of the MLP head (official: 512)."}
    )
    cache_dir: str = field(
        default=DEFAULT_CACHE, metadata={"help": "Embedding cache shared by runs and scripts."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the model folder."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Repo id for --push_to_hub."})


def build_reward_model(args: RewardScriptArguments) -> BatonRewardModel:
    if args.clap_model_name_or_path == TINY:
        from baton_tta.testing import tiny_reward_model

        return tiny_reward_model(text_backbone=args.text_backbone, loss=args.loss)
    if args.text_backbone != "clap":
        raise ValueError(
            "text_backbone='t5' with a real CLAP: build BatonRewardConfig(t5_config=...) in Python"
        )
    return BatonRewardModel.from_clap(
        args.clap_model_name_or_path, loss=args.loss, head_hidden_sizes=[args.head_hidden_size]
    )


def run_reward_training(args: RewardScriptArguments, config: RewardTrainingConfig) -> RewardTrainingResult:
    if args.dataset_name == TINY:
        from baton_tta.testing import tiny_labelled_dataset

        dataset = tiny_labelled_dataset()
    else:
        dataset = load_preference_dataset(args.dataset_name, split=args.dataset_split)
    model = build_reward_model(args)
    dataset_id = (
        args.dataset_name if args.dataset_name != TINY and not Path(args.dataset_name).exists() else None
    )
    result = train_reward_model(
        model, dataset, config, args.cache_dir, args.output_dir, dataset_id=dataset_id
    )
    if args.push_to_hub:
        repo = create_repo(args.hub_model_id or Path(args.output_dir).name, exist_ok=True).repo_id
        upload_folder(repo_id=repo, folder_path=args.output_dir, commit_message="Upload BATON reward model")
    return result
