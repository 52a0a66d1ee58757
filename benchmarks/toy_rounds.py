"""Online rounds against one round, in the toy world: BATON 1 round (the paper), BATON 3 rounds,
Diffusion-DPO 3 rounds and BATON 3 rounds with human feedback between rounds, each generating 9 clips
per training prompt and taking 150 fine-tuning steps in all, from the shipped pretrained toy TANGO and
the same stage 2 reward model; every round judged by the noiseless oracle on the proof benchmark's
held-out prompts (135 integrity × 8 clips, 100 temporal × 4) with paired differences.

    python benchmarks/toy_rounds.py [--output_dir outputs/toy_rounds] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from baton_tta.toy.rounds import ToyRounds, ToyRoundsConfig, save_rounds_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output_dir", default="outputs/toy_rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--smoke", action="store_true", help="Seconds-long run that only checks the plumbing."
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (part of what fixes the table)")
    parser.add_argument(
        "--last_round_only", action="store_true", help="Judge only each condition's last round (no curve)."
    )
    parser.add_argument("--conditions", nargs="*", default=None, help="Names of the conditions to run.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "datasets", "transformers", "diffusers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = ToyRoundsConfig.smoke() if args.smoke else ToyRoundsConfig()
    config.loop.seed, config.loop.threads = args.seed, args.threads
    config.judge_every_round = not args.last_round_only
    config.conditions = tuple(args.conditions) if args.conditions else None
    start = time.perf_counter()
    result = ToyRounds(config, args.output_dir).run()
    paths = save_rounds_result(result, args.output_dir)
    print()
    print(result.markdown())
    print()
    print("seconds per stage:", ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    print(f"total {time.perf_counter() - start:.0f} s; wrote {', '.join(str(p) for p in paths.values())}")


if __name__ == "__main__":
    main()
