"""Official BATON JSON files (+ their WAV folder) → a binary preference dataset.

    python datasets_scripts/convert_baton_official.py --json_files ratings_2label.json ratings_3label.json \
        --audio_dir BATON/audio --output_dir data/baton_official [--task temporal] [--skip_missing]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from baton_tta.data.converters import convert_baton_official


@dataclass
class ConvertBatonArguments:
    json_files: list[str] = field(metadata={"help": "Row-list or grouped_ratings JSON files."})
    audio_dir: str = field(metadata={"help": "Folder holding the clips the files name."})
    output_dir: str = field(metadata={"help": "Where to save the converted dataset (save_to_disk)."})
    task: str | None = field(default=None, metadata={"help": "integrity/temporal when names do not tell."})
    skip_missing: bool = field(
        default=False, metadata={"help": "Leave out (and list) rows whose audio is missing."}
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ConvertBatonArguments).parse_args_into_dataclasses()
    dataset = convert_baton_official(
        args.json_files, args.audio_dir, task=args.task, skip_missing=args.skip_missing
    )
    dataset.save_to_disk(args.output_dir)


if __name__ == "__main__":
    main()
