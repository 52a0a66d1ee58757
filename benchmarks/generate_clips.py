"""Clip-generation throughput of stage 1 on the pretrained toy TANGO (the toy benchmark's workload:
1 s clips, 10 DDIM steps, classifier-free guidance batched into one UNet call), before and after
generation moved under ``torch.inference_mode``, at 4, 16 and 64 clips per pipeline call, and of the
whole stage 1 path (``generate_clips``: + FLAC encoding + parquet shards). On CUDA too when present.

    python benchmarks/generate_clips.py [--clips 64] [--threads 2]

"before" is the pipeline called as it was (its own ``torch.no_grad``); "after" is
:func:`baton_tta.data.generation.render_clips`, which every generating command uses. Both draw the
same clips (same per-clip seeds); the script checks they are identical.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # keep the table readable

import numpy as np
import torch
from datasets import Dataset
from diffusers import DDIMScheduler

from baton_tta.data.generation import generate_clips, render_clips
from baton_tta.toy.pretrained import load_toy_tango

STEPS, SECONDS, GUIDANCE = 10, 1.0, 3.0


def _before(pipe, prompts: list[str], per_call: int) -> list[np.ndarray]:
    clips = []
    for start in range(0, len(prompts), per_call):
        batch = prompts[start : start + per_call]
        generators = [torch.Generator(pipe.device).manual_seed(start + k) for k in range(len(batch))]
        clips += list(
            pipe(
                batch,
                audio_length_in_s=SECONDS,
                num_inference_steps=STEPS,
                guidance_scale=GUIDANCE,
                generator=generators,
            ).audios
        )
    return clips


def _after(pipe, prompts: list[str], per_call: int) -> list[np.ndarray]:
    clips: list[np.ndarray] = []
    seeds = [[i] for i in range(len(prompts))]
    for _, audios in render_clips(pipe, prompts, seeds, per_call, SECONDS, STEPS, GUIDANCE):
        clips += audios
    return clips


def _stage1(pipe, prompts: list[str], per_call: int) -> None:
    with tempfile.TemporaryDirectory() as output:
        generate_clips(
            Dataset.from_dict({"prompt": prompts}),
            pipe,
            output,
            clips_per_prompt=1,
            prompts_per_batch=per_call,
            audio_length_in_s=SECONDS,
            num_inference_steps=STEPS,
            guidance_scale=GUIDANCE,
        )


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    prompts = [f"a hum sounds and a bell rings {i}" for i in range(args.clips)]
    print(
        f"## toy TANGO, {args.clips} clips of {SECONDS:g} s, {STEPS} DDIM steps, CFG {GUIDANCE}, {args.threads} threads\n"
    )
    print(
        "| device | clips per call | before: clips/s | after: clips/s | after / before | stage 1 with shards: clips/s |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for device in devices:
        pipe = load_toy_tango().to(device)
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        _after(pipe, prompts[:4], 4)  # warm-up
        for per_call in (4, 16, 64):
            before_s, before = timed(_before, pipe, prompts, per_call)
            after_s, after = timed(_after, pipe, prompts, per_call)
            assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), "clips differ"
            stage_s, _ = timed(_stage1, pipe, prompts, per_call)
            n = len(prompts)
            print(
                f"| {device} | {per_call} | {n / before_s:.2f} | {n / after_s:.2f} | {before_s / after_s:.2f} | {n / stage_s:.2f} |",
                flush=True,
            )
    if "cuda" not in devices:
        print("| cuda | — | not measured: no CUDA device here | — | — | — |")


if __name__ == "__main__":
    main()
