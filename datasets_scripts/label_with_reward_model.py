"""Score every clip without a human label with a trained reward model (BATON's reward-model rows).

    python datasets_scripts/label_with_reward_model.py --dataset outputs/clips/dataset \
        --reward_model outputs/reward-model --output_dir outputs/labelled [--push_to_hub --hub_dataset_id you/x]

Human rows are kept as they are; a rerun resumes where an interrupted one stopped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from baton_tta.data import load_preference_dataset
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.reward import BatonRewardModel, label_with_reward_model


@dataclass
class LabelArguments:
    dataset: str = field(metadata={"help": "Binary preference dataset (id, folder, files)."})
    reward_model: str = field(metadata={"help": "BatonRewardModel folder or Hub id."})
    output_dir: str = field(metadata={"help": "Score shards and the labelled dataset (output_dir/dataset)."})
    batch_size: int = field(default=16, metadata={"help": "Clips per scoring batch."})
    rescore_reward_rows: bool = field(
        default=False, metadata={"help": "Also re-score existing reward-model rows."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the labelled dataset with a card."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Dataset repo id for --push_to_hub."})


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(LabelArguments).parse_args_into_dataclasses()
    labelled = label_with_reward_model(
        load_preference_dataset(args.dataset),
        BatonRewardModel.from_pretrained(args.reward_model),
        args.output_dir,
        batch_size=args.batch_size,
        rescore_reward_rows=args.rescore_reward_rows,
    )
    if args.push_to_hub:
        push_preference_dataset(labelled, args.hub_dataset_id or args.output_dir.rstrip("/").split("/")[-1])


if __name__ == "__main__":
    main()
