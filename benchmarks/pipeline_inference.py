"""Inference cost of TangoPipeline: tiny pipeline seconds per clip vs steps and batch size, and one
denoising step of a TANGO-size UNet (865.9 M parameters, random weights) on the CPU — and, when CUDA
is available, the same on the GPU in bf16.

    python benchmarks/pipeline_inference.py [--tango-unet/--no-tango-unet] [--repeats 3]

Prints one Markdown table per part; ratios are relative to the first row of each table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from diffusers import UNet2DConditionModel

from baton_tta.pipelines.convert_tango import shipped_config
from baton_tta.tiny import tiny_tango_pipeline


def timed(fn: Callable[[], object], repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs, after one warm-up run."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tiny_pipeline_table(repeats: int, audio_length_in_s: float) -> list[str]:
    pipe = tiny_tango_pipeline()
    pipe.set_progress_bar_config(disable=True)
    rows = ["| steps | batch (clips) | s / call | s / clip | ratio (s/clip) |", "|---:|---:|---:|---:|---:|"]
    baseline = None
    for steps in (10, 25, 50):
        for batch in (1, 4):
            prompts = ["a dog barks followed by a car horn"] * batch
            seconds = timed(
                lambda prompts=prompts, steps=steps: pipe(
                    prompts, audio_length_in_s=audio_length_in_s, num_inference_steps=steps
                ),
                repeats,
            )
            per_clip = seconds / batch
            baseline = baseline or per_clip
            rows.append(f"| {steps} | {batch} | {seconds:.3f} | {per_clip:.3f} | {per_clip / baseline:.2f} |")
    return rows


def tango_unet_rows(device: str, dtype: torch.dtype, repeats: int) -> list[str]:
    """One classifier-free-guidance denoising step (batch 2) over a 10 s latent (8 × 256 × 16)."""
    torch.manual_seed(0)
    unet = (
        UNet2DConditionModel.from_config(shipped_config("tango_unet")).to(device=device, dtype=dtype).eval()
    )
    params = sum(p.numel() for p in unet.parameters()) / 1e6
    latents = torch.randn(2, 8, 256, 16, device=device, dtype=dtype)
    text = torch.randn(2, 24, 1024, device=device, dtype=dtype)
    mask = torch.ones(2, 24, dtype=torch.bool, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step() -> None:
        with torch.no_grad():
            unet(latents, 500, encoder_hidden_states=text, encoder_attention_mask=mask)

    seconds = timed(step, repeats, sync)
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    return [
        f"| {name} | {str(dtype).removeprefix('torch.')} | {params:.1f} M | {seconds:.3f} | {seconds * 200:.1f} |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio-length", type=float, default=1.0)
    parser.add_argument("--tango-unet", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    print(f"## Tiny TangoPipeline, {args.audio_length:g} s clips, CFG on (median of {args.repeats})\n")
    print("\n".join(tiny_pipeline_table(args.repeats, args.audio_length)))
    if args.tango_unet:
        print("\n## TANGO-size UNet, one CFG denoising step (batch 2, latent 8×256×16, 24 text tokens)\n")
        rows = ["| device | dtype | params | s / step | s / 200-step clip |", "|---|---|---:|---:|---:|"]
        rows += tango_unet_rows("cpu", torch.float32, max(1, args.repeats - 2))
        if torch.cuda.is_available():
            rows += tango_unet_rows("cuda", torch.bfloat16, args.repeats * 5)
        else:
            rows.append("| GPU | bf16 | — | not measured: no CUDA device here | — |")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
