"""A pairwise preference dataset (Tango 2's audio-alpaca: prompt, chosen, rejected, strategy) → our
pairwise schema, validated and saved.

    python datasets_scripts/convert_audio_alpaca.py --source declare-lab/audio-alpaca --output_dir data/alpaca
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from baton_tta.data.converters import convert_pairwise


@dataclass
class ConvertPairwiseArguments:
    source: str = field(
        metadata={"help": "Hub id, save_to_disk folder, parquet/JSON file(s) or audio folder."}
    )
    output_dir: str = field(metadata={"help": "Where to save the converted dataset (save_to_disk)."})
    split: str = field(default="train", metadata={"help": "Split to convert."})
    column_map: str | None = field(
        default=None, metadata={"help": 'JSON renames, e.g. {"caption": "prompt"}.'}
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ConvertPairwiseArguments).parse_args_into_dataclasses()
    column_map = json.loads(args.column_map) if args.column_map else None
    convert_pairwise(args.source, split=args.split, column_map=column_map).save_to_disk(args.output_dir)


if __name__ == "__main__":
    main()
