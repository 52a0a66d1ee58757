"""Stage 1 generation on 1 and 2 processes, same work, side by side: clips/s and the ratio.

    .venv/bin/python benchmarks/distributed_generation.py [--prompts 48] [--steps 10]

The work is the toy benchmark's (the shipped pretrained toy TANGO, 1 s clips, DDIM 10 steps,
guidance 3, 4 prompts per call, 1 clip each) through ``generate_clips``, the function
``generate-audio`` runs. Each configuration runs in fresh processes; the timer starts after the
model is loaded and every process has reached a barrier, and stops when the dataset is assembled,
so imports and loading are not counted. Rows: one process with one thread, one process with two
threads (all of this machine's cores), and two processes of one thread each under ``accelerate
launch`` (gloo). The clips of every configuration are checked identical to the first's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACCELERATE = Path(sys.executable).with_name("accelerate")


def child(output_dir: str, prompts: int, steps: int) -> None:
    """One process's share of the run (under accelerate or alone); the main process reports."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    from datasets import Dataset
    from diffusers import DDIMScheduler

    from baton_tta.data.distributed import is_main_process, wait_for_everyone
    from baton_tta.data.generation import generate_clips
    from baton_tta.toy.pretrained import load_toy_tango

    pipeline = load_toy_tango()
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    rows = Dataset.from_dict({"prompt": [f"a hum followed by a bell {i}" for i in range(prompts)]})
    wait_for_everyone()
    start = time.perf_counter()
    clips = generate_clips(
        rows, pipeline, output_dir, clips_per_prompt=1, prompts_per_batch=4,
        audio_length_in_s=1.0, num_inference_steps=steps, guidance_scale=3.0, audio_format="wav",
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if is_main_process():
        digest = [len(a["bytes"]) for a in clips["audio"]]
        print(json.dumps({"seconds": elapsed, "clips": len(clips), "sizes": digest, "bytes": _bytes(clips)}))


def _bytes(clips) -> str:
    import hashlib

    return hashlib.sha256(b"".join(a["bytes"] for a in clips["audio"])).hexdigest()


def measure(processes: int, threads: int, prompts: int, steps: int) -> dict:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
    }
    with tempfile.TemporaryDirectory() as folder:
        script = [__file__, "--child", str(Path(folder) / "clips"), str(prompts), str(steps)]
        if processes == 1:
            command = [sys.executable, *script]
        else:
            command = [
                str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no", *script,
            ]  # fmt: skip
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    rows = [(1, 1), (1, 2), (2, 1)]
    results = {row: measure(*row, args.prompts, args.steps) for row in rows}
    base = results[(1, 1)]
    print(f"{args.prompts} clips, toy TANGO, 1 s, {args.steps} DDIM steps, guidance 3, 4 prompts per call\n")
    print("| processes × threads | seconds | clips/s | vs 1 × 1 | vs 1 × 2 | clips identical |")
    print("|---|---:|---:|---:|---:|---|")
    for (processes, threads), r in results.items():
        rate = r["clips"] / r["seconds"]
        print(
            f"| {processes} × {threads} | {r['seconds']:.1f} | {rate:.2f} | "
            f"{base['seconds'] / r['seconds']:.2f}× | {results[(1, 2)]['seconds'] / r['seconds']:.2f}× | "
            f"{r['bytes'] == base['bytes']} |"
        )


if __name__ == "__main__":
    main()
