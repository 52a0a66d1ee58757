"""``baton-tta train-reward-model``: BATON stage 2 — the CLAP reward model on human labels.

baton-tta train-reward-model --config recipes/reward_paper.yaml --dataset_name you/baton-labels
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.distributed import is_main_process
from baton_tta.data.loading import load_preference_dataset
from baton_tta.hub.cards import hub_id
from baton_tta.hub.push import push_folder
from baton_tta.reward.training import (
    DEFAULT_CACHE,
    RewardTrainingConfig,
    RewardTrainingResult,
    train_reward_model,
)
from baton_tta.scripts.builtin import resolve_labelled_data, resolve_reward_model
from baton_tta.scripts.utils import command, default_repo_id, parse


@dataclass
class RewardScriptArguments:
    dataset_name: str = field(
        metadata={
            "help": "Binary preference dataset with human labels (id, folder, files), or 'tiny-random'."
        }
    )
    output_dir: str = field(
        default="outputs/reward-model", metadata={"help": "Model, card, metrics and histogram go here."}
    )
    dataset_split: str = field(
        default="train", metadata={"help": "Split to train on (validation is split off by prompt)."}
    )
    prompt_column: str = field(default="prompt", metadata={"help": "Your data's caption column."})
    audio_column: str = field(default="audio", metadata={"help": "Your data's clip column."})
    label_column: str = field(
        default="label", metadata={"help": "Your data's label column (1 aligned, 0 not, -1 skipped)."}
    )
    clap_model_name_or_path: str = field(
        default="laion/clap-htsat-unfused",
        metadata={
            "help": "transformers CLAP checkpoint, LAION-CLAP .pt file (converted on load), or 'tiny-random'."
        },
    )
    laion_tokenizer_name_or_path: str = field(
        default="roberta-base", metadata={"help": "Tokenizer for a LAION-CLAP .pt checkpoint's text tower."}
    )
    text_backbone: str = field(
        default="clap", metadata={"help": "'clap' or 't5' (Table 8 ablation).", "choices": ["clap", "t5"]}
    )
    loss: str = field(default="bce", metadata={"help": "'bce' (paper) or 'mse'.", "choices": ["bce", "mse"]})
    head_hidden_size: int = field(
        default=512, metadata={"help": "Hidden width of the MLP head (official: 512)."}
    )
    cache_dir: str = field(
        default=DEFAULT_CACHE, metadata={"help": "Embedding cache shared by runs and scripts."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the model folder in one commit."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Repo id for --push_to_hub."})


def run_reward_training(args: RewardScriptArguments, config: RewardTrainingConfig) -> RewardTrainingResult:
    dataset = resolve_labelled_data(args.dataset_name)
    if isinstance(dataset, str):
        theirs = {args.prompt_column: "prompt", args.audio_column: "audio", args.label_column: "label"}
        renamed = {column: ours for column, ours in theirs.items() if column != ours}
        dataset = load_preference_dataset(dataset, split=args.dataset_split, column_map=renamed)
    model = resolve_reward_model(
        args.clap_model_name_or_path,
        args.text_backbone,
        args.loss,
        args.head_hidden_size,
        args.laion_tokenizer_name_or_path,
    )
    result = train_reward_model(
        model, dataset, config, args.cache_dir, args.output_dir, dataset_id=hub_id(args.dataset_name)
    )
    if args.push_to_hub and is_main_process():
        repo_id = default_repo_id(args.hub_model_id, args.output_dir)
        push_folder(
            args.output_dir, repo_id, commit_message="Upload BATON reward model", ignore_patterns=["runs/**"]
        )
    return result


@command
def main(argv: Sequence[str] | None = None) -> None:
    script, config = parse((RewardScriptArguments, RewardTrainingConfig), argv)
    result = run_reward_training(script, config)
    if is_main_process():
        print(json.dumps(result.metrics, indent=2))
        print(f"reward model saved to {Path(script.output_dir).resolve()}")


if __name__ == "__main__":
    main()
