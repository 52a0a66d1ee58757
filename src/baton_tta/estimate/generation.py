"""Generation at a batch size, at a family's published size: the pipeline's own ``__call__`` on fake
weights.

Only the components are fake. What is not a model's — the prompts' token ids, the generators' first
latents, the scheduler's tables and the step index it looks up — stays real, so the pipeline's loop
runs as written (a scheduler reads its tables' values; fake tensors have none); whatever meets a fake
weight becomes fake. The peak does not depend on the number of steps (each step frees the last), so
the loop runs two steps; the FLOPs are measured at one and two steps and extended linearly (the
denoiser's steps are linear in their number; text encoding and decoding are counted once)."""

from __future__ import annotations

from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from baton_tta.data.generation import call_pipeline
from baton_tta.estimate.fake import StepCounter, fake_module
from baton_tta.estimate.measure import MemoryEstimate, weights_by_dtype
from baton_tta.estimate.training import CAPTION
from baton_tta.families import family_of
from baton_tta.families.precision import cast_denoiser_for_inference


def estimate_generation(
    build: Any,
    batch_size: int,
    audio_length_s: float,
    num_inference_steps: int,
    guidance_scale: float,
    mixed_precision: str,
) -> MemoryEstimate:
    """Peak memory of one call rendering ``batch_size`` clips (one prompt each), and its FLOPs at
    ``num_inference_steps``, on the pipeline ``build("meta")`` returns."""
    pipeline = build("meta")
    family = family_of(pipeline)
    cast_denoiser_for_inference(family.denoiser, mixed_precision)  # as the generating commands do
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    for component in pipeline.components.values():
        if isinstance(component, torch.nn.Module):
            fake_module(component.eval(), mode)
    pipeline.set_progress_bar_config(disable=True)
    counted = []
    for steps in (1, 2):
        generators = [torch.Generator().manual_seed(i) for i in range(batch_size)]
        with StepCounter() as counter:
            call_pipeline(
                pipeline,
                [CAPTION] * batch_size,
                generators,
                audio_length_s,
                steps,
                guidance_scale,
                mixed_precision,
                {"output_type": "pt"},  # the clips stay tensors: numpy would read fake data
            )
        counted.append(counter)
    per_step = counted[1].flops - counted[0].flops
    return MemoryEstimate(
        "generation",
        weights=weights_by_dtype(
            *(c for c in pipeline.components.values() if isinstance(c, torch.nn.Module))
        ),
        working_at_peak=counted[1].peak,
        flops=counted[0].flops + (num_inference_steps - 1) * per_step,
    )
