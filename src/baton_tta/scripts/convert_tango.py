"""``baton-tta convert-tango``: TANGO's original checkpoint (folder or Hub id) → a TangoPipeline folder.

baton-tta convert-tango --checkpoint declare-lab/tango --output_dir tango-diffusers
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.hub.push import pipeline_files, push_folder
from baton_tta.pipelines.convert_tango import convert_tango_to_diffusers
from baton_tta.scripts.utils import command, default_repo_id, parse


@dataclass
class ConvertArguments:
    checkpoint: str = field(
        metadata={"help": "TANGO folder or Hub id (main/vae/stft *_config.json + *.bin)."}
    )
    output_dir: str = field(metadata={"help": "Where to write the diffusers pipeline folder."})
    text_encoder_name_or_path: str | None = field(
        default=None,
        metadata={"help": "T5 config + tokenizer source; default: main_config.json's text_encoder_name."},
    )
    unet_config: str | None = field(
        default=None, metadata={"help": "UNet config JSON; default: TANGO's, shipped with baton-tta."}
    )
    vocoder_config: str | None = field(
        default=None, metadata={"help": "SpeechT5HifiGan config JSON; default: TANGO's 16 kHz HiFi-GAN."}
    )
    allow_mismatched_keys: bool = field(
        default=False, metadata={"help": "Log unused/missing weight names instead of failing."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the converted folder to the Hub."})
    hub_model_id: str | None = field(default=None, metadata={"help": "Hub repo id for --push_to_hub."})


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((ConvertArguments,), argv)
    vocoder_config = json.loads(Path(args.vocoder_config).read_text("utf-8")) if args.vocoder_config else None
    report = convert_tango_to_diffusers(
        args.checkpoint,
        args.output_dir,
        text_encoder_name_or_path=args.text_encoder_name_or_path,
        unet_config=args.unet_config,
        vocoder_config=vocoder_config,
        strict=not args.allow_mismatched_keys,
    )
    print(f"{report.describe()}; mel filter max |diff| = {report.mel_basis_max_abs_diff}")
    print(f"TangoPipeline written to {Path(args.output_dir).resolve()}")
    if args.push_to_hub:
        push_folder(
            args.output_dir,
            default_repo_id(args.hub_model_id, args.output_dir),
            commit_message="Upload converted TANGO",
            allow_patterns=pipeline_files(args.output_dir),
        )


if __name__ == "__main__":
    main()
