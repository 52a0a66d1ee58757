"""Train BATON's reward model (frozen CLAP → MLP → sigmoid, BCE) on human labels.

    python trainers/train_reward_model.py --dataset_name you/baton-labels --preset paper \
        --output_dir outputs/reward-model [--clap_model_name_or_path laion/clap-htsat-unfused] [--push_to_hub]
    python trainers/train_reward_model.py --config recipes/reward_tiny.yaml    # offline, tiny CLAP

Captions and clips are embedded once into --cache_dir; epochs run the head only.
"""

from __future__ import annotations

import json
import logging

from trl import TrlParser

from baton_tta.reward.run import RewardScriptArguments, run_reward_training
from baton_tta.reward.training import RewardTrainingConfig


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    script_args, config = TrlParser((RewardScriptArguments, RewardTrainingConfig)).parse_args_and_config()
    result = run_reward_training(script_args, config)
    print(json.dumps(result.metrics, indent=2))
    print(f"reward model saved to {script_args.output_dir}")


if __name__ == "__main__":
    main()
