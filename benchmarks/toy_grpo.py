"""Online GRPO against BATON in the toy world: offline BATON Eq. 7 and Diffusion-KTO, BATON rounds,
GRPO rounds with the reward model as the reward and with the oracle as the reward (the upper bound),
all at the same number of generated clips from the same base model, judged by the noiseless oracle on
the same held-out prompts and clip seeds (paired differences against the base, offline BATON and
offline KTO), with the denoiser passes and wall time of each; GRPO's learning rate is searched on
validation prompts taken from the training prompts. Then the guard: GRPO on a reward model with a
planted flaw, and when the reward-hacking guard stops it. Seeded, fixed thread count: the same
command gives the same table on the same machine.

    python benchmarks/toy_grpo.py [--output_dir outputs/toy_grpo] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from baton_tta.toy.grpo import ToyGRPO, ToyGRPOConfig, save_grpo_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output_dir", default="outputs/toy_grpo")
    parser.add_argument(
        "--smoke", action="store_true", help="Seconds-long run that only checks the plumbing."
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (part of what fixes the table)")
    parser.add_argument("--conditions", nargs="*", default=None, help="Names of the conditions to run.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "datasets", "transformers", "diffusers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = ToyGRPOConfig.smoke() if args.smoke else ToyGRPOConfig()
    config.objectives.loop.threads = args.threads
    if args.conditions:
        config.conditions = tuple(args.conditions)
    start = time.perf_counter()
    result = ToyGRPO(config, args.output_dir).run()
    paths = save_grpo_result(result, args.output_dir)
    print()
    print(result.markdown())
    print()
    print("data:", ", ".join(f"{k} {v}" for k, v in result.table.data_stats.items()))
    print("seconds per stage:", ", ".join(f"{k} {v}" for k, v in result.table.seconds.items()))
    print(f"total {time.perf_counter() - start:.0f} s; wrote {', '.join(str(p) for p in paths.values())}")


if __name__ == "__main__":
    main()
