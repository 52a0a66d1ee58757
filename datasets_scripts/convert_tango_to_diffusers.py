"""Convert an original TANGO checkpoint (declare-lab/tango layout) into a diffusers TangoPipeline folder.

    python datasets_scripts/convert_tango_to_diffusers.py --checkpoint declare-lab/tango --output_dir tango-diffusers

The result loads with ``TangoPipeline.from_pretrained(dir)`` or, without baton-tta installed,
``DiffusionPipeline.from_pretrained(dir, trust_remote_code=True)``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from baton_tta.pipelines.convert_tango import convert_tango_to_diffusers


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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    (args,) = HfArgumentParser(ConvertArguments).parse_args_into_dataclasses()
    vocoder_config = None
    if args.vocoder_config:
        with open(args.vocoder_config, encoding="utf-8") as handle:
            vocoder_config = json.load(handle)
    report = convert_tango_to_diffusers(
        args.checkpoint,
        args.output_dir,
        push_to_hub=args.push_to_hub,
        repo_id=args.hub_model_id,
        text_encoder_name_or_path=args.text_encoder_name_or_path,
        unet_config=args.unet_config,
        vocoder_config=vocoder_config,
        strict=not args.allow_mismatched_keys,
    )
    logging.getLogger("convert_tango").info(
        "%s; mel filter max |diff| = %s", report.describe(), report.mel_basis_max_abs_diff
    )


if __name__ == "__main__":
    main()
