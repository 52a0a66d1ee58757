"""Stage 3: fine-tune TANGO with BATON's reward-weighted loss (paper Eq. 7).

    accelerate launch trainers/train.py --config recipes/baton_tango_temporal.yaml [--key value ...]
    python trainers/train.py                      # offline: recipes/toy.yaml (pretrained toy TANGO)

Thin wrapper around ``baton_tta.scripts.train`` (also ``baton-tta train`` and
``accelerate launch -m baton_tta.scripts.train``). Without ``--config`` and without any pipeline or
data flag, the offline toy recipe ``recipes/toy.yaml`` is used; given your own pipeline or data,
nothing from that recipe is mixed in.
"""

import sys
from pathlib import Path

from baton_tta.scripts.train import main

DEMO_RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "toy.yaml"
SOURCE_FLAGS = ("--pipeline_name_or_path", "--dataset_name", "--pretrain_dataset_name")

if __name__ == "__main__":
    argv = sys.argv[1:]
    names_a_source = any(arg.split("=")[0] in SOURCE_FLAGS for arg in argv)
    if "--config" not in argv and not names_a_source:
        argv = ["--config", str(DEMO_RECIPE), *argv]
    main(argv)
