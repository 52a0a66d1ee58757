"""Push a preference dataset to the Hub with a dataset card (schema, task counts, label balance).

python datasets_scripts/push_dataset.py --source data/clips/dataset --repo_id you/baton-clips
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from baton_tta.data import load_preference_dataset
from baton_tta.hub.datasets import push_preference_dataset


@dataclass
class PushDatasetArguments:
    source: str = field(metadata={"help": "Dataset folder or file(s) to push (validated first)."})
    repo_id: str = field(metadata={"help": "Target dataset repo id."})
    schema: str = field(default="binary", metadata={"help": "binary, pairwise or pretrain."})
    license: str = field(default="cc-by-4.0", metadata={"help": "License id written into the card."})
    pretty_name: str | None = field(default=None, metadata={"help": "Title of the dataset card."})
    private: bool = field(default=False, metadata={"help": "Create a private repo."})


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(PushDatasetArguments).parse_args_into_dataclasses()
    dataset = load_preference_dataset(args.source, schema=args.schema)
    push_preference_dataset(dataset, args.repo_id, args.schema, args.license, args.pretty_name, args.private)


if __name__ == "__main__":
    main()
