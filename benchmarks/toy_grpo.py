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

import time

from toy.grpo import ToyGRPO, ToyGRPOConfig, save_grpo_result
from toy_cli import quiet_logging, report, toy_parser


def main() -> None:
    parser = toy_parser(__doc__, "outputs/toy_grpo")
    parser.add_argument("--conditions", nargs="*", default=None, help="Names of the conditions to run.")
    args = parser.parse_args()
    with quiet_logging():
        config = ToyGRPOConfig.smoke() if args.smoke else ToyGRPOConfig()
        config.objectives.loop.threads = args.threads
        if args.conditions:
            config.conditions = tuple(args.conditions)
        start = time.perf_counter()
        result = ToyGRPO(config, args.output_dir).run()
        paths = save_grpo_result(result, args.output_dir)
        report(result.markdown(), paths, result.table.seconds, start, result.table.data_stats)


if __name__ == "__main__":
    main()
