"""Training-step cost, side by side in one run:

1. our trainer vs a bare PyTorch loop on the same tiny UNet and the same batches (overhead ratio);
2. cached vs uncached features (T5 + VAE once, or every step);
3. one TANGO-size UNet training step (865.9 M parameters, random weights, 10 s latent), full
   fine-tuning vs LoRA: seconds and peak resident memory, each in its own process so peaks don't mix.
   On CUDA (bf16, batch 6) as well when a GPU is present.

    python benchmarks/trainer_step.py [--steps 20] [--tango-batch 1] [--no-tango]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from diffusers import UNet2DConditionModel

from baton_tta.pipelines.convert_tango import shipped_config
from baton_tta.tiny import tiny_tango_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer


def _trainer(output: str, steps: int, cache: bool) -> RewardWeightedDiffusionTrainer:
    args = RewardWeightedDiffusionConfig(
        output_dir=output,
        audio_length_s=1.0,
        per_device_train_batch_size=4,
        max_steps=steps,
        learning_rate=1e-4,
        save_strategy="no",
        report_to="none",
        logging_steps=10_000,
        use_cpu=True,
        dataloader_pin_memory=False,
        cache_latents=cache,
        seed=0,
        disable_tqdm=True,
    )
    return RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(), args, tone_preference_dataset(4 * steps), tone_pretrain_dataset(8)
    )


def trainer_seconds(steps: int, cache: bool) -> float:
    with tempfile.TemporaryDirectory() as output:
        trainer = _trainer(output, steps, cache)
        start = time.perf_counter()
        trainer.train()
        return (time.perf_counter() - start) / steps


def bare_loop_seconds(steps: int) -> float:
    """The same work without the Trainer: collated batches, the same loss code, AdamW, grad clipping."""
    with tempfile.TemporaryDirectory() as output:
        trainer = _trainer(output, steps, cache=True)
        batches = list(trainer.get_train_dataloader())[:steps]
        model = trainer.model
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        start = time.perf_counter()
        for batch in batches:
            loss = trainer.compute_loss(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
        return (time.perf_counter() - start) / steps


def tango_step(mode: str, device: str, batch: int) -> dict:
    """One optimizer step of the TANGO-size UNet; run in a child process (see main)."""
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(shipped_config("tango_unet")).to(device)
    if mode == "lora":
        from peft import LoraConfig

        unet.requires_grad_(False)
        unet.add_adapter(LoraConfig(r=32, lora_alpha=32, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    unet.enable_gradient_checkpointing()
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    latents = torch.randn(batch, 8, 256, 16, device=device)
    text = torch.randn(batch, 24, 1024, device=device)
    mask = torch.ones(batch, 24, dtype=torch.bool, device=device)

    def step():
        with torch.autocast(device, dtype=dtype, enabled=device == "cuda"):
            out = unet(
                latents,
                torch.randint(0, 1000, (batch,), device=device),
                encoder_hidden_states=text,
                encoder_attention_mask=mask,
            ).sample
        out.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up (allocates optimizer state)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if device == "cuda":
        peak_gib = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "mode": mode,
        "device": device,
        "batch": batch,
        "seconds": seconds,
        "peak_gib": peak_gib,
        "trainable_m": sum(p.numel() for p in params) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--tango-batch", type=int, default=1)
    parser.add_argument("--tango", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DEVICE", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(tango_step(args.child[0], args.child[1], int(args.child[2]))))
        return
    torch.set_num_threads(os.cpu_count() or 1)

    print(
        f"## Tiny UNet, batch 4 + pretrain batch 4, 1 s clips, {args.steps} steps (CPU, seconds per step)\n"
    )
    bare = bare_loop_seconds(args.steps)
    ours = trainer_seconds(args.steps, cache=True)
    uncached = trainer_seconds(args.steps, cache=False)
    print("| run | s / step | ratio |\n|---|---:|---:|")
    print(f"| bare PyTorch loop (cached features) | {bare:.4f} | 1.00 |")
    print(f"| RewardWeightedDiffusionTrainer, cached | {ours:.4f} | {ours / bare:.3f} (overhead vs bare) |")
    print(
        f"| RewardWeightedDiffusionTrainer, uncached | {uncached:.4f} | {uncached / ours:.2f} (vs cached) |"
    )

    if args.tango:
        print("\n## TANGO-size UNet, one training step, latent 8×256×16, gradient checkpointing\n")
        print(
            "| device | batch | mode | trainable params | s / step | peak memory |\n|---|---:|---|---:|---:|---:|"
        )
        runs = [("cpu", args.tango_batch)] + ([("cuda", 6)] if torch.cuda.is_available() else [])
        for device, batch in runs:
            for mode in ("full", "lora"):
                child = subprocess.run(
                    [sys.executable, __file__, "--child", mode, device, str(batch)],
                    capture_output=True,
                    text=True,
                )
                if child.returncode != 0:
                    print(
                        f"| {device} | {batch} | {mode} | — | failed: {child.stderr.strip().splitlines()[-1]} | — |"
                    )
                    continue
                r = json.loads(child.stdout.strip().splitlines()[-1])
                memory = "GPU" if device == "cuda" else "RSS"
                print(
                    f"| {device} | {batch} | {mode} | {r['trainable_m']:.1f} M | {r['seconds']:.2f} | {r['peak_gib']:.2f} GiB {memory} |"
                )
        if not torch.cuda.is_available():
            print("| cuda | 6 | full / lora | — | not measured: no CUDA device here | — |")


if __name__ == "__main__":
    main()
