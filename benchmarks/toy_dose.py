"""When does BATON's Eq. 7 move the model? Its paired effect against the base over optimizer steps ×
learning rate, with the oracle's labels and with people's labels plus the reward model's scores, then
β and the reward transform at each kind of labels' best point — all judged on validation prompts held
out of training (never on the held-out judge). Seeded, fixed thread count.

    python benchmarks/toy_dose.py [--output_dir outputs/toy_dose] [--smoke]
"""

from __future__ import annotations

import time

from toy.dose import ToyDose, ToyDoseConfig, save_dose_result
from toy_cli import quiet_logging, report, toy_parser


def main() -> None:
    parser = toy_parser(__doc__, "outputs/toy_dose")
    parser.add_argument("--labels", nargs="*", default=None, help="Kinds of labels: oracle, both.")
    parser.add_argument(
        "--second_pass",
        action="store_true",
        help="The finer pass: 12 clips per validation prompt, β 2, up to 800 steps.",
    )
    args = parser.parse_args()
    with quiet_logging():
        config = (
            ToyDoseConfig.smoke()
            if args.smoke
            else ToyDoseConfig.second_pass()
            if args.second_pass
            else ToyDoseConfig()
        )
        config.world.loop.threads = args.threads
        if args.labels:
            config.labels = tuple(args.labels)
        start = time.perf_counter()
        result = ToyDose(config, args.output_dir).run()
        paths = save_dose_result(result, args.output_dir)
        report(result.markdown(), paths, result.seconds, start, {"points": len(result.points)})


if __name__ == "__main__":
    main()
