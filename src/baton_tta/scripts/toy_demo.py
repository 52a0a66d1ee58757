"""``baton-tta toy-demo``: the main job (``make demo``). BATON's four stages in the toy sound world
from the shipped pretrained toy TANGO — generate, simulated annotators label, reward model,
reward-weighted fine-tuning, oracle judging — with a before/after table, offline, on CPU.

    baton-tta toy-demo --output_dir outputs/toy-demo
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from baton_tta.scripts.utils import parse


@dataclass
class ToyDemoArguments:
    output_dir: str = field(default="outputs/toy-demo", metadata={"help": "Report and fine-tuned pipeline."})
    seed: int = field(default=0, metadata={"help": "Seed of every stage."})
    threads: int = field(default=2, metadata={"help": "torch threads (the same count gives the same table)."})
    smoke: bool = field(default=False, metadata={"help": "Seconds-long run of the same path (tests)."})


def main(argv: Sequence[str] | None = None) -> None:
    from baton_tta.toy.demo import DEMO_CONDITION, TOY_WORLD_NOTICE, demo_config, run_demo, smoke_demo_config

    (args,) = parse([ToyDemoArguments], argv)
    for noisy in ("httpx", "datasets", "transformers", "diffusers", "baton_tta.data", "baton_tta.trainer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = smoke_demo_config(args.seed) if args.smoke else demo_config(args.seed, args.threads)
    print(TOY_WORLD_NOTICE, flush=True)
    start = time.perf_counter()
    result, pipeline_dir = run_demo(args.output_dir, config)
    print(f"\n## BATON in the toy world: before and after ({DEMO_CONDITION}, β = {config.beta})\n")
    print(result.markdown())
    print("\ndata:", ", ".join(f"{k} {v}" for k, v in result.data_stats.items()))
    print("seconds per stage:", ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    print(
        f"total {time.perf_counter() - start:.0f} s; report in {args.output_dir}/toy_demo.md (and .json, .png)"
    )
    print(
        "\nThe fine-tuned toy pipeline, with its card:\n"
        "  from diffusers import DiffusionPipeline\n"
        f"  pipe = DiffusionPipeline.from_pretrained({str(pipeline_dir)!r}, trust_remote_code=True)\n"
        '  clip = pipe("A chirp followed by a hum", audio_length_in_s=1.0, num_inference_steps=10).audios[0]'
    )


if __name__ == "__main__":
    main()
