"""The round trip BATON's clips take before any learning: generated latents → VAE decode → vocoder →
waveform → the training front end → VAE encode (posterior mean). What it costs, and what the oracle
hears before and after it, for Griffin-Lim at several iteration counts."""

from __future__ import annotations

import numpy as np
import torch
from datasets import Dataset
from diffusers import DDIMScheduler

from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.vocoder import GriffinLimVocoder
from toy.config import ToyLabConfig

#: Offset of the round trip's generator seed from the run's seed (apart from stage 1's and the judge's).
ROUND_TRIP_SEED_OFFSET = 20_000


@torch.no_grad()
def vocoder_round_trip(
    pipeline: TangoPipeline,
    held_out: Dataset,
    config: ToyLabConfig,
    oracle: OracleAnnotator,
    iterations: tuple[int, ...],
) -> list[dict]:
    """One row per Griffin-Lim iteration count: the latent error over the latents' variance, the mel
    L1, how often the oracle agrees before and after, and the aligned rates before → after."""
    c = config
    rows = held_out.select(range(min(len(held_out), c.round_trip_clips)))
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    generator = torch.Generator().manual_seed(c.seed + ROUND_TRIP_SEED_OFFSET)
    latents = pipeline(
        list(rows["prompt"]),
        audio_length_in_s=c.duration_s,
        num_inference_steps=c.inference_steps,
        guidance_scale=c.guidance_scale,
        generator=generator,
        output_type="latent",
    ).audios
    mel = pipeline.decode_latents(latents).squeeze(1)
    num_frames = mel.shape[1]
    results = []
    for count in iterations:
        vocoder = GriffinLimVocoder.from_config(pipeline.vocoder.config, num_iters=count)
        before = vocoder(mel)
        mel_again = pipeline.waveform_to_mel(
            pipeline.prepare_waveform(before, num_frames * pipeline.hop_length), num_frames=num_frames
        )
        latents_again = pipeline.mel_to_latents(mel_again, sample_posterior=False)
        after = vocoder(pipeline.decode_latents(latents_again).squeeze(1))
        judged = [
            (
                oracle.is_aligned(row["events"], row["task"], b.numpy()),
                oracle.is_aligned(row["events"], row["task"], a.numpy()),
            )
            for row, b, a in zip(rows, before, after, strict=True)
        ]
        results.append(
            {
                "vocoder": f"Griffin-Lim, {count} iterations",
                "latent_error": float(((latents_again - latents) ** 2).mean() / latents.var()),
                "mel_l1": float((mel_again - mel).abs().mean()),
                "agreement": float(np.mean([x == y for x, y in judged])),
                "aligned_before": float(np.mean([x for x, _ in judged])),
                "aligned_after": float(np.mean([y for _, y in judged])),
            }
        )
    return results
