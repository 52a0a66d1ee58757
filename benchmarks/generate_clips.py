"""Clip-generation throughput of the stage 1 path (pipeline + FLAC encoding + parquet shards) with the
tiny pipeline at 1, 4 and 16 clips per pipeline call; on CUDA too when a GPU is present.

    python benchmarks/generate_clips.py [--clips 16] [--steps 10] [--audio-length 1.0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # keep the table readable

import torch
from datasets import Dataset

from baton_tta.data.generation import generate_clips
from baton_tta.tiny import tiny_tango_pipeline


def clips_per_second(device: str, batch: int, clips: int, steps: int, audio_length: float) -> float:
    pipe = tiny_tango_pipeline().to(device)
    pipe.set_progress_bar_config(disable=True)
    prompts = Dataset.from_dict({"prompt": [f"a dog barks then rain falls {i}" for i in range(clips)]})
    kwargs = {
        "clips_per_prompt": 1,
        "prompts_per_batch": batch,
        "num_inference_steps": steps,
        "audio_length_in_s": audio_length,
    }
    with tempfile.TemporaryDirectory() as warmup:
        generate_clips(prompts.select(range(batch)), pipe, warmup, **kwargs)
    with tempfile.TemporaryDirectory() as output:
        start = time.perf_counter()
        generate_clips(prompts, pipe, output, **kwargs)
        return clips / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--audio-length", type=float, default=1.0)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"## generate_clips, tiny pipeline, {args.clips} clips of {args.audio_length:g} s, {args.steps} steps, CFG on\n"
    )
    print("| device | clips per call | clips / s | ratio vs 1 per call |\n|---|---:|---:|---:|")
    for device in devices:
        base = None
        for batch in (1, 4, 16):
            rate = clips_per_second(device, batch, args.clips, args.steps, args.audio_length)
            base = base or rate
            print(f"| {device} | {batch} | {rate:.2f} | {rate / base:.2f} |", flush=True)
    if "cuda" not in devices:
        print("| cuda | — | not measured: no CUDA device here | — |")


if __name__ == "__main__":
    main()
