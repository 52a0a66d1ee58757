"""``baton-tta label-with-reward-model``: give the clips no person labelled a reward-model score.

    baton-tta label-with-reward-model --dataset outputs/labels/dataset --reward_model outputs/reward-tiny \\
        --output_dir outputs/labelled
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.distributed import is_main_process
from baton_tta.data.fingerprint import content_fingerprint
from baton_tta.data.loading import load_preference_dataset
from baton_tta.data.records import defining_record, keep_one_definition
from baton_tta.data.settings import SettingsError
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.reward.labelling import DATASET_DIR, label_with_reward_model
from baton_tta.reward.modeling import BatonRewardModel
from baton_tta.scorers import WeightedScorers
from baton_tta.scorers.registry import check_weights, describe_scorer
from baton_tta.scripts.builtin import named_scorers
from baton_tta.scripts.utils import command, default_repo_id, parse


@dataclass
class LabelArguments:
    dataset: str = field(metadata={"help": "Binary preference dataset (id, folder, files)."})
    output_dir: str = field(metadata={"help": "Score shards and the labelled dataset (output_dir/dataset)."})
    reward_model: str | None = field(default=None, metadata={"help": "BatonRewardModel folder or Hub id."})
    scorers: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Instead of reward_model: scorers by kind:source (judge:MODEL, clap:MODEL, …), their "
            "weighted mean."
        },
    )
    label_threshold: float | None = field(
        default=None,
        metadata={
            "help": "Also give each scored row an automatic label: 1 at or above this score, 0 below (the "
            "row stays a reward-model row with its score)."
        },
    )
    scorer_weights: list[float] = field(
        default_factory=list, metadata={"help": "One weight per scorer (default 1)."}
    )
    batch_size: int = field(default=16, metadata={"help": "Clips per scoring batch."})
    rescore_reward_rows: bool = field(
        default=False, metadata={"help": "Also re-score existing reward-model rows."}
    )
    audio_length_s: float | None = field(
        default=None,
        metadata={
            "help": "Expected clip length in seconds (as training's); None checks only max_audio_length_s."
        },
    )
    audio_length_tolerance_s: float | None = field(
        default=None, metadata={"help": "Allowed difference from audio_length_s; None: 3 percent of it."}
    )
    max_audio_length_s: float = field(
        default=60.0, metadata={"help": "Clips longer than this are an error (CLAP hears 10 s windows)."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the labelled dataset with a card."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Dataset repo id for --push_to_hub."})

    def __post_init__(self):
        """Every setting checked when parsed, before any data, cache or folder is touched (a batch of
        -3 exited 0 having scored nothing; a threshold of 2 labelled everything 0)."""
        if bool(self.reward_model) == bool(self.scorers):
            raise SettingsError("give --reward_model or --scorers (one of the two)")
        if self.scorer_weights and not self.scorers:
            raise SettingsError("--scorer_weights weighs --scorers; a --reward_model run takes none")
        if self.scorer_weights:
            if len(self.scorer_weights) != len(self.scorers):
                raise SettingsError(
                    f"{len(self.scorer_weights)} --scorer_weights for {len(self.scorers)} --scorers"
                )
            check_weights(self.scorer_weights)
        if self.batch_size < 1:
            raise SettingsError(f"--batch_size must be at least 1, got {self.batch_size}")
        if self.label_threshold is not None and not 0.0 < self.label_threshold < 1.0:
            raise SettingsError(
                f"--label_threshold must lie in (0, 1), got {self.label_threshold}: rewards are in [0, 1], "
                "so any other value gives every row the same label"
            )


def scorer_for(args: LabelArguments) -> BatonRewardModel | WeightedScorers:
    """The reward model, or the named scorers weighted: exactly one of the two (checked when parsed)."""
    if args.reward_model:
        return BatonRewardModel.from_pretrained(args.reward_model)
    return named_scorers(args.scorers, args.scorer_weights or None)


#: what may differ when a run continues in its folder: how rows are batched and where results go
MAY_CHANGE_ON_RESUME = ("batch_size", "push_to_hub", "hub_dataset_id")


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((LabelArguments,), argv)
    if (
        Path(args.output_dir).resolve().is_relative_to(Path(args.dataset).resolve())
        and Path(args.dataset).exists()
    ):
        raise ValueError(
            f"--output_dir {args.output_dir} is inside --dataset {args.dataset}: choose another folder"
        )
    dataset = load_preference_dataset(args.dataset)
    scorer = scorer_for(args)
    described = scorer.describe() if isinstance(scorer, WeightedScorers) else [describe_scorer(scorer)]
    record = defining_record(
        args,
        MAY_CHANGE_ON_RESUME,
        data_content=content_fingerprint(dataset),
        scorers=described,
    )
    keep_one_definition(args.output_dir, record, "scores", write=is_main_process())
    labelled = label_with_reward_model(
        dataset,
        scorer,
        args.output_dir,
        batch_size=args.batch_size,
        rescore_reward_rows=args.rescore_reward_rows,
        audio_length_s=args.audio_length_s,
        audio_length_tolerance_s=args.audio_length_tolerance_s,
        max_audio_length_s=args.max_audio_length_s,
        label_threshold=args.label_threshold,
    )
    if not is_main_process():
        return
    (Path(args.output_dir) / "scorers.json").write_text(json.dumps(described, indent=2, default=str) + "\n")
    print(f"labelled dataset written to {(Path(args.output_dir) / DATASET_DIR).resolve()}")
    if args.push_to_hub:
        push_preference_dataset(labelled, default_repo_id(args.hub_dataset_id, args.output_dir))


if __name__ == "__main__":
    main()
