"""BATON's preference and pretrain batches through the denoiser in one call against two, side by side.

The GPU run that prompted it counted ~9,300 kernel launches per TANGO training step with the GPU busy
129 of 330 ms: a launch-bound step, where one call over twice the rows costs about what one call over
half of them does. On 2 CPU cores the work, not the launches, dominates, so expect a small gain here
and a larger one on a GPU. Both ways draw the same noise and timesteps; the table prints the largest
difference of the per-sample errors between them (0 up to float rounding).

    python benchmarks/joint_denoiser_pass.py [--steps 20] [--batch 4] [--pipeline TangoPipeline]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import torch

from baton_tta.tiny import tiny_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer


def _trainer(pipeline_name: str, batch: int, output: str) -> RewardWeightedDiffusionTrainer:
    args = RewardWeightedDiffusionConfig(
        output_dir=output, audio_length_s=1.0, per_device_train_batch_size=batch, use_cpu=True,
        report_to=[], condition_dropout=0.1, max_steps=1,
    )  # fmt: skip
    return RewardWeightedDiffusionTrainer(
        tiny_pipeline(pipeline_name),
        args,
        tone_preference_dataset(num_rows=batch, seconds=1.0),
        tone_pretrain_dataset(num_rows=batch, seconds=1.0),
    )


def _time(step, steps: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--pipeline", default="TangoPipeline")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        trainer = _trainer(a.pipeline, a.batch, folder)
        batch = trainer._prepare_inputs(
            trainer.data_collator([trainer.train_dataset[i] for i in range(a.batch)])
        )
        parts = [batch["audio"], batch["pretrain"]]
        model = trainer.model

        def joint():
            torch.manual_seed(0)
            terms = trainer._joint_denoising_terms(model, parts)
            sum(mse.mean() for mse, _ in terms).backward()
            return terms

        def separate():
            torch.manual_seed(0)
            terms = [trainer._denoising_terms(model, part) for part in parts]
            sum(mse.mean() for mse, _ in terms).backward()
            return terms

        difference = max(float((x[0] - y[0]).abs().max()) for x, y in zip(joint(), separate(), strict=True))
        one, two = _time(joint, a.steps), _time(separate, a.steps)
    print(
        f"{a.pipeline}, batch {a.batch} + {a.batch} pretrain rows, forward + backward, median of {a.steps}:\n"
    )
    print("| denoiser calls | s / step | ratio |")
    print("|---|---:|---:|")
    print(f"| two (one per batch) | {two:.4f} | 1.00× |")
    print(f"| one (joined) | {one:.4f} | {two / one:.2f}× |")
    print(f"\nlargest per-sample error difference between the two: {difference:.2e}")


if __name__ == "__main__":
    main()
