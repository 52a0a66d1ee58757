"""``baton-tta convert-baton-official``: the official BATON JSON files + their WAV folder → the binary schema.

baton-tta convert-baton-official --json_files ratings.json --audio_dir BATON/audio --output_dir outputs/baton_official
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.converters import convert_baton_official, describe_sources
from baton_tta.scripts.utils import command, parse


@dataclass
class ConvertBatonArguments:
    json_files: list[str] = field(metadata={"help": "Row-list or grouped_ratings JSON files."})
    audio_dir: list[str] = field(
        metadata={
            "help": "Folder(s) holding the clips the files name, searched in order by file name (e.g. "
            "the HD and RD folders of one task)."
        }
    )
    output_dir: str = field(metadata={"help": "Where to save the converted dataset (save_to_disk)."})
    task: str | None = field(
        default=None,
        metadata={"help": "integrity/temporal when names do not tell.", "choices": ["integrity", "temporal"]},
    )
    skip_missing: bool = field(
        default=False, metadata={"help": "Leave out (and list) rows whose audio is missing."}
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((ConvertBatonArguments,), argv)
    dataset = convert_baton_official(
        args.json_files, args.audio_dir, task=args.task, skip_missing=args.skip_missing
    )
    dataset.save_to_disk(args.output_dir)
    print(f"{len(dataset)} rows written to {Path(args.output_dir).resolve()}: {describe_sources(dataset)}")


if __name__ == "__main__":
    main()
