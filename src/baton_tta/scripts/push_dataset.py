"""``baton-tta push-dataset``: validate a preference dataset and push it to the Hub with its card.

baton-tta push-dataset --source outputs/clips/dataset --hub_dataset_id you/baton-clips
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from baton_tta.data.loading import load_preference_dataset
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.scripts.utils import parse


@dataclass
class PushDatasetArguments:
    source: str = field(metadata={"help": "Dataset folder or file(s) to push (validated first)."})
    hub_dataset_id: str = field(metadata={"help": "Target dataset repo id."})
    schema: str = field(
        default="binary",
        metadata={"help": "binary, pairwise or pretrain.", "choices": ["binary", "pairwise", "pretrain"]},
    )
    license: str | None = field(
        default=None, metadata={"help": "Licence id for the card (default: cc-by-nc-sa-4.0)."}
    )
    pretty_name: str | None = field(default=None, metadata={"help": "Title of the dataset card."})
    private: bool = field(default=False, metadata={"help": "Create a private repo."})


def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((PushDatasetArguments,), argv)
    dataset = load_preference_dataset(args.source, schema=args.schema)
    push_preference_dataset(
        dataset, args.hub_dataset_id, args.schema, args.license, args.pretty_name, args.private
    )


if __name__ == "__main__":
    main()
