"""The toy world's TangoPipeline: a VAE trained here on toy mels, Griffin-Lim as its vocoder.

TANGO takes its VAE and vocoder pretrained from AudioLDM and trains only the UNet; the toy world does
the same with a first stage it can make on a CPU in a minute: a small AutoencoderKL fitted to toy
log-mels (no mid-block attention, which costs most of the time at mel resolution and buys nothing
for these sounds) and :class:`~baton_tta.toy.vocoder.GriffinLimVocoder` as its vocoder, since
Griffin-Lim inverts toy mels well enough for the oracle (measured: every rendered clip still judged
correctly after mel → Griffin-Lim → mel).
The text encoder and tokenizer are the tiny ones of :mod:`baton_tta.tiny`: T5 stays frozen and
random, as TANGO keeps Flan-T5 frozen; the UNet learns to read it.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from datasets import Dataset
from diffusers import AutoencoderKL
from tqdm.auto import tqdm
from transformers import ClapFeatureExtractor, ClapModel

from baton_tta.clap import clap_audio_inputs, clap_text_inputs
from baton_tta.data.audio import decode_audio
from baton_tta.pipelines.pipeline_tango import TangoPipeline, log_mel_spectrogram, prepare_waveform
from baton_tta.tiny import (
    TINY_LATENT_CHANNELS,
    tiny_clap,
    tiny_scheduler,
    tiny_text_encoder,
    tiny_tokenizer,
    tiny_unet,
)
from baton_tta.toy.oracle import HOP_LENGTH, N_MELS
from baton_tta.toy.synth import DEFAULT_DURATION_S, SAMPLING_RATE, random_caption_scene, render_scene
from baton_tta.toy.vocoder import GriffinLimVocoder

logger = logging.getLogger(__name__)


def toy_autoencoder(seed: int = 0) -> AutoencoderKL:
    """An untrained AutoencoderKL of the toy world's shape: 1-channel mel, 8 latent channels, 4× down
    (a latent of 26 × 16 per second keeps the UNet cheap on a CPU)."""
    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        latent_channels=TINY_LATENT_CHANNELS,
        norm_num_groups=8,
        mid_block_add_attention=False,
    )


def toy_mels(num_clips: int, seed: int, duration_s: float = DEFAULT_DURATION_S) -> torch.Tensor:
    """(clips, frames, 64) log-mels of random caption-shaped toy scenes, at TANGO's level (peak 0.5)."""
    rng = np.random.default_rng(seed)
    waveforms = []
    for index in range(num_clips):
        _, _, placements = random_caption_scene(index, rng, duration_s)
        waveforms.append(render_scene(placements, seed=seed + index, duration_s=duration_s))
    batch = torch.from_numpy(np.stack(waveforms))
    frames = int(duration_s * SAMPLING_RATE / HOP_LENGTH)
    return log_mel_spectrogram(prepare_waveform(batch, batch.shape[1]))[:, :frames]


def train_toy_autoencoder(
    num_clips: int = 512,
    steps: int = 300,
    batch_size: int = 16,
    learning_rate: float = 2e-3,
    kl_weight: float = 1e-4,
    seed: int = 0,
) -> AutoencoderKL:
    """Fit :func:`toy_autoencoder` to toy log-mels (L1 reconstruction + a small KL term), then set its
    ``scaling_factor`` so latents have unit standard deviation, as Stable Diffusion's VAE does."""
    mels = toy_mels(num_clips, seed=seed).unsqueeze(1)
    vae = toy_autoencoder(seed).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    progress = tqdm(range(steps), desc="toy VAE", leave=False)
    for _ in progress:
        batch = mels[torch.randint(0, len(mels), (batch_size,), generator=generator)]
        posterior = vae.encode(batch).latent_dist
        reconstruction = vae.decode(posterior.sample(generator)).sample
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        loss = (reconstruction - batch).abs().mean() + kl_weight * kl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        progress.set_postfix(l1=f"{(reconstruction - batch).abs().mean().item():.3f}")
    vae.eval()
    with torch.no_grad():
        latents = vae.encode(mels[:128]).latent_dist.mode()
    vae.register_to_config(scaling_factor=float(1.0 / latents.std()))
    logger.info("toy VAE: scaling factor %.3f", vae.config.scaling_factor)
    return vae


def toy_tango_pipeline(vae: AutoencoderKL, seed: int = 0) -> TangoPipeline:
    """A TangoPipeline for the toy world: the given (trained) VAE, a fresh tiny UNet to train, the tiny
    frozen T5, TANGO's scheduler, and Griffin-Lim as the vocoder."""
    tokenizer = tiny_tokenizer()
    return TangoPipeline(
        vae=vae,
        text_encoder=tiny_text_encoder(len(tokenizer), seed),
        tokenizer=tokenizer,
        unet=tiny_unet(seed),
        scheduler=tiny_scheduler(),
        vocoder=GriffinLimVocoder(
            sampling_rate=SAMPLING_RATE, model_in_dim=N_MELS, upsample_rates=(HOP_LENGTH,)
        ),
    )


def train_toy_clap(
    pairs: Dataset, steps: int = 300, batch_size: int = 32, learning_rate: float = 1e-3, seed: int = 0
) -> tuple[ClapModel, ClapFeatureExtractor]:
    """A tiny CLAP fitted contrastively (CLAP's own symmetric InfoNCE loss) to toy (caption, clip)
    pairs, with a 32-bin mel front end up to 8 kHz where the toy events live. It gives the reward
    model audio and text embeddings that mean something in the toy world, and the CLAP score a
    judge, as LAION-CLAP does for real audio."""
    clap, extractor = tiny_clap(seed, num_mel_bins=32, frequency_max=8000.0)
    tokenizer = tiny_tokenizer()
    prompts = list(pairs["prompt"])
    waves = [decode_audio(a, SAMPLING_RATE) for a in pairs["audio"]]
    features = clap_audio_inputs(extractor, waves, SAMPLING_RATE, "cpu")["input_features"]
    tokens = clap_text_inputs(tokenizer, prompts, "cpu")
    optimizer = torch.optim.AdamW(clap.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    clap.train()
    progress = tqdm(range(steps), desc="toy CLAP", leave=False)
    for _ in progress:
        batch = torch.randperm(len(prompts), generator=generator)[:batch_size]
        loss = clap(
            input_ids=tokens["input_ids"][batch],
            attention_mask=tokens["attention_mask"][batch],
            input_features=features[batch],
            return_loss=True,
        ).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        progress.set_postfix(loss=f"{loss.item():.3f}")
    return clap.eval(), extractor
