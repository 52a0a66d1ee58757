"""``baton-tta convert-baton-audiocaps``: the BATON release's AudioCaps lists + their clips → the
pretrain schema (the β term's data of paper Eq. 7).

    baton-tta convert-baton-audiocaps --json_files Baton/data/Audiocaps/train_audiocaps.json \\
        --audio_dir audiocaps/train --output_dir outputs/audiocaps_pretrain
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.data.converters import convert_baton_audiocaps
from baton_tta.scripts.utils import command, parse


@dataclass
class ConvertAudioCapsArguments:
    json_files: list[str] = field(
        metadata={"help": "train_audiocaps.json (JSON Lines of location + captions) or others like it."}
    )
    audio_dir: list[str] = field(
        metadata={"help": "Folder(s) holding the clips the files name ({youtube_id}_{start}.wav)."}
    )
    output_dir: str = field(metadata={"help": "Where to save the pretrain dataset (save_to_disk)."})
    skip_missing: bool = field(
        default=False, metadata={"help": "Leave out (and list) rows whose audio is missing."}
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((ConvertAudioCapsArguments,), argv)
    dataset = convert_baton_audiocaps(args.json_files, args.audio_dir, skip_missing=args.skip_missing)
    dataset.save_to_disk(args.output_dir)
    print(f"{len(dataset)} pretrain rows written to {Path(args.output_dir).resolve()}")


if __name__ == "__main__":
    main()
