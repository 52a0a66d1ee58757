"""``baton-tta convert-audio-alpaca``: a pairwise dataset such as Tango 2's audio-alpaca → the pairwise schema.

baton-tta convert-audio-alpaca --source path/or/hub-id --output_dir outputs/alpaca
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.converters import convert_pairwise
from baton_tta.scripts.utils import command, parse


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


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((ConvertPairwiseArguments,), argv)
    column_map = json.loads(args.column_map) if args.column_map else None
    dataset = convert_pairwise(args.source, split=args.split, column_map=column_map)
    dataset.save_to_disk(args.output_dir)
    print(f"{len(dataset)} pairs written to {Path(args.output_dir).resolve()}")


if __name__ == "__main__":
    main()
