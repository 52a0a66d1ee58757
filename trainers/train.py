"""Fine-tune TANGO with BATON (reward-weighted denoising loss, paper Eq. 7) or Diffusion-DPO.

    accelerate launch trainers/train.py --config recipes/baton_tango_integrity.yaml [--key value ...]
    python trainers/train.py                      # recipes/tiny.yaml: tiny pipeline + data made in code

Every field of ScriptArguments and RewardWeightedDiffusionConfig is a YAML key and a --flag;
flags override the YAML. ``--resume_from_checkpoint last`` continues the newest checkpoint.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from trl import TrlParser

from baton_tta.trainer.config import RewardWeightedDiffusionConfig
from baton_tta.trainer.run import ScriptArguments, run_training

DEFAULT_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv:
        argv = ["--config", str(DEFAULT_RECIPE), *argv]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    script_args, training_args = TrlParser(
        (ScriptArguments, RewardWeightedDiffusionConfig)
    ).parse_args_and_config(argv)
    output = run_training(script_args, training_args)
    if training_args.process_index == 0:
        print(f"\nFine-tuned pipeline saved to {output.resolve()}")
        print(
            "Load it with:\n  from diffusers import DiffusionPipeline\n"
            f'  pipe = DiffusionPipeline.from_pretrained("{output.resolve()}", trust_remote_code=True)'
        )


if __name__ == "__main__":
    main()
