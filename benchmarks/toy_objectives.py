"""Which objective for BATON's binary labels? BATON Eq. 7 (hard labels; labels + reward-model
scores), Diffusion-KTO, Diffusion-DPO and CRPO on reward-model-ranked pairs, and BATON on the oracle's
labels (the upper bound), in the toy world: the same stage-0 model, stage-1 clips and labels, the
same fine-tuning steps; hyper-parameters from a grid scored on validation prompts taken from the
training prompts; judged on the same held-out prompts and clip seeds (paired differences against the
base and against BATON), with the CLAP score, the unnamed-event rate, wall time per objective, where
each paired interval's width comes from (and the clips per prompt a ±4-point one would take), and a
curve of alignment against the number of human labels for the two best. Seeded, fixed thread count:
the same command gives the same table on the same machine.

    python benchmarks/toy_objectives.py [--output_dir outputs/toy_objectives] [--smoke]
"""

from __future__ import annotations

import time

from toy.objectives import ToyObjectives, ToyObjectivesConfig, save_objectives_result
from toy_cli import quiet_logging, report, toy_parser


def main() -> None:
    parser = toy_parser(__doc__, "outputs/toy_objectives")
    parser.add_argument("--objectives", nargs="*", default=None, help="Names of the objectives to run.")
    args = parser.parse_args()
    with quiet_logging():
        config = ToyObjectivesConfig.smoke() if args.smoke else ToyObjectivesConfig()
        config.loop.threads = args.threads
        if args.objectives:
            config.objectives = tuple(args.objectives)
        start = time.perf_counter()
        result = ToyObjectives(config, args.output_dir).run()
        paths = save_objectives_result(result, args.output_dir)
        report(result.markdown(), paths, result.table.seconds, start, result.table.data_stats)


if __name__ == "__main__":
    main()
