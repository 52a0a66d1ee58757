"""Stage 3: fine-tune TANGO with BATON's reward-weighted loss (paper Eq. 7).

    accelerate launch trainers/train.py --config recipes/baton_tango_temporal.yaml [--key value ...]
    python trainers/train.py                      # offline: recipes/toy.yaml (pretrained toy TANGO)

Thin wrapper around ``baton_tta.scripts.train`` (also ``baton-tta train`` and
``accelerate launch -m baton_tta.scripts.train``). Without ``--config`` and without any pipeline or
data flag, the offline toy recipe ``recipes/toy.yaml`` (shipped in the package) is used; given your
own pipeline or data, nothing from that recipe is mixed in.
"""

import sys

from baton_tta.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
