"""Online rounds against one round, in the toy world: BATON 1 round (the paper), BATON 3 rounds,
Diffusion-DPO 3 rounds and BATON 3 rounds with human feedback between rounds, each generating 9 clips
per training prompt and taking 150 fine-tuning steps in all, from the shipped pretrained toy TANGO and
the same stage 2 reward model; every round judged by the noiseless oracle on the proof benchmark's
held-out prompts (135 integrity × 8 clips, 100 temporal × 4) with paired differences.

    python benchmarks/toy_rounds.py [--output_dir outputs/toy_rounds] [--smoke]
"""

from __future__ import annotations

import time

from toy.rounds import ToyRounds, ToyRoundsConfig, save_rounds_result
from toy_cli import quiet_logging, report, toy_parser


def main() -> None:
    parser = toy_parser(__doc__, "outputs/toy_rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--last_round_only", action="store_true", help="Judge only each condition's last round (no curve)."
    )
    parser.add_argument("--conditions", nargs="*", default=None, help="Names of the conditions to run.")
    args = parser.parse_args()
    with quiet_logging():
        config = ToyRoundsConfig.smoke() if args.smoke else ToyRoundsConfig()
        config.loop.seed, config.loop.threads = args.seed, args.threads
        config.judge_every_round = not args.last_round_only
        config.conditions = tuple(args.conditions) if args.conditions else None
        start = time.perf_counter()
        result = ToyRounds(config, args.output_dir).run()
        paths = save_rounds_result(result, args.output_dir)
        report(result.markdown(), paths, result.seconds, start)


if __name__ == "__main__":
    main()
