"""``baton-tta toy-demo``: the main job (``make demo``). BATON's four stages in the toy sound world
from the shipped pretrained toy TANGO — generate, simulated annotators label, reward model,
reward-weighted fine-tuning (and Diffusion-KTO on the same labels), oracle judging — with a table of
every model against the base, offline, on CPU.

    baton-tta toy-demo --output_dir outputs/toy-demo
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from baton_tta.scoped import CHATTY_LIBRARIES, quiet_loggers
from baton_tta.scripts.utils import command, parse


@dataclass
class ToyDemoArguments:
    output_dir: str = field(default="outputs/toy-demo", metadata={"help": "Report and fine-tuned pipeline."})
    seed: int = field(default=0, metadata={"help": "Seed of every stage."})
    threads: int = field(default=2, metadata={"help": "torch threads (the same count gives the same table)."})
    smoke: bool = field(default=False, metadata={"help": "Seconds-long run of the same path (tests)."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Clear an earlier demo's output_dir first (make demo does)."}
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse([ToyDemoArguments], argv)
    with quiet_loggers([*CHATTY_LIBRARIES, "baton_tta.data", "baton_tta.trainer"]):
        _demo(args)


def _demo(args: ToyDemoArguments) -> None:
    from baton_tta.toy.demo import (
        TOY_WORLD_NOTICE,
        demo_config,
        prepare_demo_dir,
        run_demo,
        smoke_demo_config,
        verdicts,
    )

    config = smoke_demo_config(args.seed) if args.smoke else demo_config(args.seed, args.threads)
    prepare_demo_dir(args.output_dir, args.overwrite_output_dir)
    print(TOY_WORLD_NOTICE, flush=True)
    start = time.perf_counter()
    result, folders = run_demo(args.output_dir, config)
    print(
        f"\n## BATON in the toy world: the base, Eq. 7 (β = {config.beta:g}, learning rate "
        f"{config.finetune_learning_rate:g}) and Diffusion-KTO (kto_beta {config.kto_beta:g}, learning rate "
        f"{config.kto_learning_rate:g}), {config.finetune_steps} steps each on the same rows\n"
    )
    print(result.markdown())
    print("\n" + "\n".join(verdicts(result)))
    print("\ndata:", ", ".join(f"{k} {v}" for k, v in result.data_stats.items()))
    print("seconds per stage:", ", ".join(f"{k} {v}" for k, v in result.seconds.items()))
    print(
        f"total {time.perf_counter() - start:.0f} s; report in {args.output_dir}/toy_demo.md (and .json, .png)"
    )
    print(
        "\nThe fine-tuned toy pipelines, with their cards:",
        *(f"  {n}: {f}" for n, f in folders.items()),
        sep="\n",
    )
    print(
        "  from diffusers import DiffusionPipeline\n"
        f"  pipe = DiffusionPipeline.from_pretrained({str(next(iter(folders.values())))!r}, trust_remote_code=True)\n"
        '  clip = pipe("A chirp followed by a hum", audio_length_in_s=1.0, num_inference_steps=10).audios[0]'
    )


if __name__ == "__main__":
    main()
