"""``baton-tta label-with-reward-model``: give the clips no person labelled a reward-model score.

    baton-tta label-with-reward-model --dataset outputs/labels/dataset --reward_model outputs/reward-tiny \\
        --output_dir outputs/labelled
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.distributed import is_main_process
from baton_tta.data.loading import load_preference_dataset
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.reward.labelling import DATASET_DIR, label_with_reward_model
from baton_tta.reward.modeling import BatonRewardModel
from baton_tta.scripts.utils import default_repo_id, parse


@dataclass
class LabelArguments:
    dataset: str = field(metadata={"help": "Binary preference dataset (id, folder, files)."})
    reward_model: str = field(metadata={"help": "BatonRewardModel folder or Hub id."})
    output_dir: str = field(metadata={"help": "Score shards and the labelled dataset (output_dir/dataset)."})
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


def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((LabelArguments,), argv)
    if (
        Path(args.output_dir).resolve().is_relative_to(Path(args.dataset).resolve())
        and Path(args.dataset).exists()
    ):
        raise ValueError(
            f"--output_dir {args.output_dir} is inside --dataset {args.dataset}: choose another folder"
        )
    labelled = label_with_reward_model(
        load_preference_dataset(args.dataset),
        BatonRewardModel.from_pretrained(args.reward_model),
        args.output_dir,
        batch_size=args.batch_size,
        rescore_reward_rows=args.rescore_reward_rows,
        audio_length_s=args.audio_length_s,
        audio_length_tolerance_s=args.audio_length_tolerance_s,
        max_audio_length_s=args.max_audio_length_s,
    )
    if not is_main_process():
        return
    print(f"labelled dataset written to {(Path(args.output_dir) / DATASET_DIR).resolve()}")
    if args.push_to_hub:
        push_preference_dataset(labelled, default_repo_id(args.hub_dataset_id, args.output_dir))


if __name__ == "__main__":
    main()
