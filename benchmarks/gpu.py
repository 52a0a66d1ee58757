"""The GPU benchmark: training and generation cost of TANGO, Stable Audio Open and Stable Audio 3 at
their published sizes (random weights, built in code: ``published_pipelines.py``), side by side in
one run. On a GPU it is the published sizes; on CPU (and in the suite) the same code runs the tiny
pipelines, so a GPU run cannot fail on a typo.

    python benchmarks/gpu.py                  # CUDA: published sizes, every family and phase (~15 min)
    python benchmarks/gpu.py --size tiny      # anywhere: the tiny pipelines
    python benchmarks/gpu.py --families TangoPipeline --phases train --check   # one device call
    python benchmarks/gpu.py --size published --tflops 600 --plan   # the plan's minutes, on a CPU

The plan's minutes are printed before anything runs (:func:`print_plan`: the FLOPs ``baton-tta
estimate`` counts, at 30 % of the measured matmul rate, 120 s per compiled row). At 600 TFLOP/s it
plans a family's training phase at 4–5 minutes (its two compiled rows are half of it), its
generation at 0.2–0.9 and TANGO's GRPO at 0.4: one device call per family's training, one for the
rest.

Each training row's peak is the steps after the first (the optimizer's state allocated), reset when the
first ends and read when the last ends; its seconds per step exclude ``train()``'s teardown; every row
starts from the same allocator state (:func:`fresh_allocator`). Large generation batches decode one
clip at a time (VAE slicing). Stable Audio Open trains on its whole 47.55 s window (the trainer's
rule for it: the length is its duration conditioning), so its training rows are at that window.

Tables (one per family, then the GPU's own rate):

- **training**: BATON's loss (preference + pretrain batch) in the trainer, the same loss code bare (the
  trainer's own batches, its optimizer, no ``Trainer``), and the denoiser alone (one forward and
  backward) — full and LoRA, activation checkpointing off/on, ``torch_compile`` off/on; seconds per
  step, peak GPU memory (``torch.cuda.max_memory_allocated``) and model FLOPs utilisation: the
  denoiser's FLOPs (``torch.utils.flop_counter``) over the time, against the bf16 matmul rate
  measured on the same GPU;
- **generation**: clips per second for each precision and batch (1, 8, 32), 200 steps, guidance 3,
  10 s clips. Each is measured at N and 2N sampler steps and extrapolated to 200 (the denoiser's
  steps are linear in N; text encoding and decoding are not, and stay counted once); each precision's
  largest difference from fp32 for the same seed;
- **GRPO** (TANGO): one update of 2 prompts × 4 clips, 20 steps, half of them trained.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from torch.utils.flop_counter import FlopCounterMode
from transformers import PrinterCallback, TrainerCallback

from baton_tta.data.generation import render_clips
from baton_tta.estimate.generation import estimate_generation
from baton_tta.estimate.grpo import Loudness
from baton_tta.estimate.published_pipelines import published_pipeline
from baton_tta.estimate.training import estimate_training_step
from baton_tta.families import family_of
from baton_tta.families.precision import cast_denoiser_for_inference
from baton_tta.tiny import tiny_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import (
    DiffusionGRPOConfig,
    DiffusionGRPOTrainer,
    RewardWeightedDiffusionConfig,
    RewardWeightedDiffusionTrainer,
)
from baton_tta.trainer.objectives import objective_named

FAMILIES = ("TangoPipeline", "StableAudioPipeline", "StableAudio3Pipeline")
PHASES = ("train", "generate", "grpo")


@dataclass(frozen=True)
class Scale:
    """How big each measurement is."""

    build: Callable[[str], Any]
    train_batch: int
    clip_s: float
    generation_batches: tuple[int, ...]
    timed_sampler_steps: int  # measured at N and 2N, extrapolated to GENERATION_STEPS
    timed_train_steps: int
    grpo_steps: int
    #: bf16 training (the tiny run checks the code in fp32: bf16 convolutions on a CPU are emulated, and
    #: took most of the suite's time)
    bf16: bool = True


GENERATION_STEPS, GUIDANCE = 200, 3.0
SCALES = {
    "published": Scale(published_pipeline, 6, 10.0, (1, 8, 32), 5, 5, 20),
    "tiny": Scale(tiny_pipeline, 2, 0.5, (1, 2), 2, 1, 2, bf16=False),  # checks the code: fewest repetitions
}


# ----------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def fresh_allocator(device: torch.device) -> None:
    """The same allocator state before every row (bare, denoiser alone and trainer alike): freed
    blocks given back, so no row inherits another's cache."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


@contextmanager
def measured(device: torch.device) -> Iterator[dict[str, float]]:
    """Wall seconds and peak GPU memory (GiB; NaN on CPU) of the block alone, the device synchronised."""
    _reset_peak(device)
    _sync(device)
    result: dict[str, float] = {}
    start = time.perf_counter()
    yield result
    _sync(device)
    result["seconds"] = time.perf_counter() - start
    result["peak_gib"] = _peak_gib(device)


def matmul_rate(device: torch.device) -> float:
    """Dense matmul FLOP/s this device reaches (bf16 on a GPU, fp32 on CPU): the MFU denominator."""
    size, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (512, torch.float32)
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b  # warm-up
    repeats = 20
    with measured(device) as m:
        for _ in range(repeats):
            a @ b
    return 2 * size**3 * repeats / m["seconds"]


class StepClock(TrainerCallback):
    """Seconds per optimizer step and peak memory of the steps after the first (which allocates the
    optimizer's state and compiles), both read when the last step ends: ``train()``'s teardown (the
    pipeline made whole again, LoRA's fp32 base copied back) is in neither."""

    def __init__(self, device: torch.device):
        self.device, self.start, self.steps = device, 0.0, 0
        self.seconds, self.peak_gib = float("nan"), float("nan")

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            _sync(self.device)
            _reset_peak(self.device)
            self.start = time.perf_counter()
        self.steps = state.global_step - 1

    def on_train_end(self, args, state, control, **kwargs):
        _sync(self.device)
        self.seconds = (time.perf_counter() - self.start) / max(1, self.steps)
        self.peak_gib = _peak_gib(self.device)

    def seconds_per_step(self) -> float:
        return self.seconds


def _clocked(trainer, device: torch.device) -> StepClock:
    """The trainer with a step clock instead of the printed end-of-training metrics."""
    trainer.remove_callback(PrinterCallback)
    clock = StepClock(device)
    trainer.add_callback(clock)
    return clock


# ----------------------------------------------------------------------------- training
def _config(scale: Scale, device: torch.device, output: str, **settings) -> RewardWeightedDiffusionConfig:
    return RewardWeightedDiffusionConfig(
        output_dir=output,
        audio_length_s=scale.clip_s,
        per_device_train_batch_size=scale.train_batch,
        max_steps=scale.timed_train_steps + 1,
        learning_rate=1e-5,
        bf16=scale.bf16,
        use_cpu=device.type == "cpu",
        save_strategy="no",
        report_to="none",
        logging_steps=10_000,
        dataloader_pin_memory=False,
        seed=0,
        disable_tqdm=True,
        **settings,
    )


def _trainer(pipeline, args: RewardWeightedDiffusionConfig, scale: Scale) -> RewardWeightedDiffusionTrainer:
    rows = scale.train_batch * (scale.timed_train_steps + 1)
    return RewardWeightedDiffusionTrainer(
        pipeline,
        args,
        tone_preference_dataset(num_rows=rows, seconds=scale.clip_s),
        tone_pretrain_dataset(num_rows=rows, seconds=scale.clip_s),
    )


def _denoiser_pass(trainer, batch: dict) -> Callable[[], None]:
    """One forward and backward of the denoiser alone on the batch's fixed draws, under the run's autocast."""
    latents, noise, timesteps, conditioning = trainer._draw(batch["audio"])
    noisy = trainer.noise.add_noise(latents, noise, timesteps)
    model_timesteps = trainer.noise.model_timestep(timesteps)

    def run() -> None:
        with trainer.accelerator.autocast():
            out = trainer.family.denoise(trainer.model, noisy, model_timesteps, conditioning)
        out.float().square().mean().backward()

    return run


def _bare_step(trainer, batch: dict) -> Callable[[], None]:
    """The trainer's loss code, backward, clipping and optimizer step, without the ``Trainer``."""
    optimizer = trainer.optimizer
    model = trainer.model

    def run() -> None:
        with trainer.accelerator.autocast():
            loss = trainer.compute_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


def _median_seconds(run: Callable[[], None], device: torch.device, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        with measured(device) as m:
            run()
        times.append(m["seconds"])
    return float(np.median(times))


def _builder(name: str, scale: Scale) -> Callable[[str], Any]:
    """``name``'s pipeline at this scale, built on the device asked for (``meta`` for an estimate)."""
    return (
        partial(published_pipeline, name) if scale is SCALES["published"] else lambda _: tiny_pipeline(name)
    )


def _estimated_peak_gib(name: str, scale: Scale, args: RewardWeightedDiffusionConfig) -> float:
    """``baton-tta estimate``'s peak for the same step (fake tensors; eager: compile is not estimated)."""
    return estimate_training_step(objective_named("baton"), args, _builder(name, scale)).peak / 2**30


# ----------------------------------------------------------------------------- the plan
#: what a plan assumes: the share of the measured matmul rate the work reaches, and the seconds each
#: compiled row spends compiling (inductor, the family's repeated blocks)
PLANNED_MFU, COMPILE_SECONDS = 0.3, 120.0
TRAINING_ROWS, COMPILED_ROWS = 6, 2


def planned_seconds(name: str, scale: Scale, phases: list[str], rate: float) -> dict[str, float]:
    """Rough seconds of each phase for ``name``: the FLOPs it runs (``baton-tta estimate``'s counts at
    this scale: a LoRA training step, a clip's sampler steps) at :data:`PLANNED_MFU` of ``rate``, and
    :data:`COMPILE_SECONDS` per compiled row."""
    build, work = _builder(name, scale), rate * PLANNED_MFU
    seconds: dict[str, float] = {}
    n = scale.timed_sampler_steps
    sampled = "generate" in phases or ("grpo" in phases and name == "TangoPipeline")
    clip = {  # FLOPs of one clip at k sampler steps (text encoding and decoding once)
        k: estimate_generation(build, 1, scale.clip_s, k, GUIDANCE, "bf16").flops
        for k in ((n, 2 * n, scale.grpo_steps) if sampled else ())
    }
    if "train" in phases:
        with tempfile.TemporaryDirectory() as output:
            step = estimate_training_step(
                objective_named("baton"), _config(scale, torch.device("cpu"), output, use_lora=True), build
            ).flops
        # each row: the trainer's steps, then the bare loss code and the denoiser alone (a warm-up and
        # the timed repetitions each), and one pass whose FLOPs are counted
        passes = (scale.timed_train_steps + 1) * 3 + 1
        seconds["train"] = TRAINING_ROWS * passes * step / work + COMPILED_ROWS * COMPILE_SECONDS
    if "generate" in phases:
        per_precision = clip[n] + sum(batch * (clip[n] + clip[2 * n]) for batch in scale.generation_batches)
        seconds["generate"] = 3 * per_precision / work
    if "grpo" in phases and name == "TangoPipeline":
        clips, per_step = 8, clip[2 * n] - clip[n]  # 2 prompts × 4 clips; a sampler step's FLOPs per clip
        update = clips * clip[scale.grpo_steps] + clips * scale.grpo_steps / 2 * 3 * per_step  # backward ≈ 2×
        seconds["grpo"] = 2 * update / work
    return seconds


def print_plan(families: list[str], scale: Scale, phases: list[str], rate: float) -> None:
    """The plan's estimated minutes, family by family, before anything runs."""
    print(f"Plan (FLOPs from baton-tta estimate at {PLANNED_MFU:.0%} of the measured matmul rate, "
          f"{COMPILE_SECONDS:.0f} s per compiled row; model loading not counted):\n")  # fmt: skip
    print("| family | " + " | ".join(f"{phase} min" for phase in phases) + " |")
    print("|---|" + "---:|" * len(phases))
    total = 0.0
    for name in families:
        seconds = planned_seconds(name, scale, phases, rate)
        total += sum(seconds.values())
        cells = " | ".join(f"{seconds[p] / 60:.1f}" if p in seconds else "—" for p in phases)
        print(f"| {name} | {cells} |")
    verdict = (
        ""
        if total <= 8 * 60
        else ": over 8 minutes, more than one device call (split with --families/--phases)"
    )
    print(f"\nTotal ≈ {total / 60:.1f} min{verdict}\n", flush=True)


def training_rows(
    name: str, pipeline, scale: Scale, device: torch.device, rate: float, check: bool = False
) -> list[dict]:
    base = copy.deepcopy(family_of(pipeline).denoiser)
    rows = []
    configurations = [
        (lora, checkpointing, compiled)
        for lora in (False, True)
        for checkpointing in (False, True)
        for compiled in (False, True)
        if not (compiled and checkpointing)  # compile is measured on the faster of the two
    ]
    backend = "inductor" if device.type == "cuda" else "aot_eager"
    for lora, checkpointing, compiled in configurations:
        fresh = family_of(pipeline).pipeline_with(**{family_of(pipeline).denoiser_name: copy.deepcopy(base)})
        fresh_allocator(device)
        with tempfile.TemporaryDirectory() as output:
            args = _config(
                scale,
                device,
                output,
                use_lora=lora,
                activation_checkpointing=checkpointing,
                **({"torch_compile_backend": backend} if compiled else {}),
            )
            estimated = _estimated_peak_gib(name, scale, args) if check else float("nan")
            trainer = _trainer(fresh, args, scale)
            clock = _clocked(trainer, device)
            trainer.train()
            trainer_seconds, trainer_peak = clock.seconds_per_step(), clock.peak_gib
            fresh_allocator(device)
            trainer._lean()  # as during training: frozen parts parked, LoRA base in bf16
            batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
            bare = _median_seconds(_bare_step(trainer, batch), device, scale.timed_train_steps)
            fresh_allocator(device)
            alone_run = _denoiser_pass(trainer, batch)
            alone = _median_seconds(alone_run, device, scale.timed_train_steps)
            with FlopCounterMode(display=False) as counter:
                alone_run()
            flops = counter.get_total_flops()
            trainer._whole()  # the pipeline whole again: generation shares its frozen components
        rows.append(
            {
                "mode": "LoRA" if lora else "full",
                "checkpointing": checkpointing,
                "compile": compiled,
                "trainer": trainer_seconds,
                "bare": bare,
                "alone": alone,
                "peak_gib": trainer_peak,
                "estimated_gib": estimated,
                "mfu": flops / alone / rate,
            }
        )
        del trainer, fresh
    return rows


# ----------------------------------------------------------------------------- generation
def _clips(pipeline, batch: int, steps: int, precision: str, clip_s: float) -> list[np.ndarray]:
    prompts = [f"a dog barks then rain falls {i}" for i in range(batch)]
    seeds = [[i] for i in range(batch)]
    return [
        clip
        for _, clips in render_clips(
            pipeline,
            prompts,
            seeds,
            prompts_per_batch=batch,
            audio_length_in_s=clip_s,
            num_inference_steps=steps,
            guidance_scale=GUIDANCE,
            progress=False,
            mixed_precision=precision,
        )
        for clip in clips
    ]


def generation_rows(pipeline, scale: Scale, device: torch.device) -> list[dict]:
    family = family_of(pipeline)
    base = copy.deepcopy(family.denoiser)
    precisions = ("no", "bf16", "fp16")
    n = scale.timed_sampler_steps
    reference = None
    rows = []
    for precision in precisions:
        denoiser = copy.deepcopy(base).to(device).eval()
        cast_denoiser_for_inference(denoiser, precision)
        generating = family.pipeline_with(**{family.denoiser_name: denoiser}).to(device)
        if hasattr(generating.vae, "enable_slicing"):  # decode one clip at a time: a batch of 32 fp32
            generating.vae.enable_slicing()  # Stable Audio Open decodes would hold ~128 GiB at once
        clips = _clips(generating, 1, n, precision, scale.clip_s)  # warm-up, and the difference
        if precision == "no":
            reference = clips
        difference = max(float(np.abs(a - b).max()) for a, b in zip(clips, reference, strict=True))
        for batch in scale.generation_batches:
            fresh_allocator(device)
            with measured(device) as short:
                _clips(generating, batch, n, precision, scale.clip_s)
            with measured(device) as long:
                _clips(generating, batch, 2 * n, precision, scale.clip_s)
            per_step = (long["seconds"] - short["seconds"]) / n
            seconds = short["seconds"] + (GENERATION_STEPS - n) * max(per_step, 0.0)
            rows.append(
                {
                    "precision": precision,
                    "batch": batch,
                    "clips_per_s": batch / seconds,
                    "max_difference": difference,
                    "peak_gib": long["peak_gib"],
                }
            )
        del generating, denoiser
    return rows


# ----------------------------------------------------------------------------- GRPO


def grpo_row(pipeline, scale: Scale, device: torch.device) -> dict:
    with tempfile.TemporaryDirectory() as output:
        args = DiffusionGRPOConfig(
            output_dir=output,
            audio_length_s=scale.clip_s,
            num_generations=4,
            per_device_train_batch_size=2,
            num_inference_steps=scale.grpo_steps,
            timestep_fraction=0.5,
            max_steps=2,
            learning_rate=1e-5,
            bf16=scale.bf16,
            use_cpu=device.type == "cpu",
            use_lora=True,
            save_strategy="no",
            report_to="none",
            logging_steps=10_000,
            disable_tqdm=True,
        )
        prompts = Dataset.from_dict(
            {"prompt": ["a dog barks then rain falls", "a bell rings and a car passes"]}
        )
        trainer = DiffusionGRPOTrainer(pipeline, args, train_dataset=prompts, reward_funcs=Loudness())
        clock = _clocked(trainer, device)
        fresh_allocator(device)
        trainer.train()
        return {"seconds": clock.seconds_per_step(), "peak_gib": clock.peak_gib}


# ----------------------------------------------------------------------------- tables
def _gib(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:.1f}"


def print_training(rows: list[dict], check: bool = False) -> None:
    extra = " estimated GiB | measured ÷ estimated |" if check else ""
    print("| mode | checkpointing | compile | trainer s/step | bare loss code s/step | trainer ÷ bare | "
          f"denoiser alone s | peak GiB | MFU |{extra}")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if check else ""))
    for r in rows:
        checked = ""
        if check:
            ratio = r["peak_gib"] / r["estimated_gib"]
            checked = f" {r['estimated_gib']:.2f} | {'—' if np.isnan(ratio) else f'{ratio:.2f}'} |"
        print(
            f"| {r['mode']} | {'on' if r['checkpointing'] else 'off'} | {'on' if r['compile'] else 'off'} "
            f"| {r['trainer']:.3f} | {r['bare']:.3f} | {r['trainer'] / r['bare']:.2f} | {r['alone']:.3f} "
            f"| {_gib(r['peak_gib'])} | {100 * r['mfu']:.1f} % |{checked}"
        )


def print_generation(rows: list[dict]) -> None:
    fp32 = {r["batch"]: r["clips_per_s"] for r in rows if r["precision"] == "no"}
    print("| precision | batch | clips/s (200 steps) | vs fp32 | max difference from fp32 | peak GiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['precision']} | {r['batch']} | {r['clips_per_s']:.3f} | {r['clips_per_s'] / fp32[r['batch']]:.2f}× "
            f"| {r['max_difference']:.2e} | {_gib(r['peak_gib'])} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", choices=sorted(SCALES), default=None, help="default: published on CUDA, else tiny"
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument(
        "--phases",
        nargs="+",
        default=list(PHASES),
        choices=PHASES,
        help="what to measure (GRPO runs on TANGO only); one device call can take a part",
    )
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print the plan's estimated minutes and stop (on a CPU, with --size published and --tflops)",
    )
    parser.add_argument(
        "--tflops",
        type=float,
        default=None,
        help="the device's matmul rate for the plan (default: measured here)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="beside each training row, baton-tta estimate's peak for the same step and measured ÷ estimated",
    )
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    scale = SCALES[args.size or ("published" if device.type == "cuda" else "tiny")]
    rate = args.tflops * 1e12 if args.tflops else matmul_rate(device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    source = "given" if args.tflops else "bf16" if device.type == "cuda" else "fp32"
    print(f"# {name}, torch {torch.__version__}; dense matmul {rate / 1e12:.1f} TFLOP/s "
          f"({source}; the MFU denominator)")  # fmt: skip
    print(
        f"batch {scale.train_batch} (+ pretrain {scale.train_batch}), {scale.clip_s:g} s clips, {'bf16' if scale.bf16 else 'fp32'} training"
    )
    if scale is SCALES["tiny"]:
        print("tiny size: these timings check the code, not the cost (a tiny step is all overhead)")
    print()
    print_plan(args.families, scale, args.phases, rate)
    if args.plan:
        return
    for family_name in args.families:
        pipeline = scale.build(family_name)
        display = family_of(pipeline).display_name
        if "train" in args.phases:
            print(f"## {display}: training\n")
            print_training(training_rows(family_name, pipeline, scale, device, rate, args.check), args.check)
            print()
        if "generate" in args.phases:
            print(f"## {display}: generation\n")
            print_generation(generation_rows(pipeline, scale, device))
            print()
        if family_name == "TangoPipeline" and "grpo" in args.phases:
            r = grpo_row(pipeline, scale, device)
            print(f"## {display}: GRPO, 2 prompts × 4 clips, {scale.grpo_steps} steps, half trained (LoRA)\n")
            print(f"| s / update | peak GiB |\n|---:|---:|\n| {r['seconds']:.2f} | {_gib(r['peak_gib'])} |\n")
        del pipeline


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")  # the tables, not progress bars (this process only)
    main()
