"""Stable Audio 3 (``StableAudio3Pipeline``): T5Gemma states plus a duration token into
``StableAudio3DiTModel``, the SAME waveform VAE at 44.1 kHz stereo, rectified flow
(``FlowMatchEulerDiscreteScheduler``, timesteps in [0, 1]). Fine-tune the non-distilled ``-base``
checkpoint: the distilled one bakes guidance into its weights and samples in 8 ping-pong steps."""

from __future__ import annotations

import math

import torch

from baton_tta.families.base import Conditioning, WaveformVAEFamily
from baton_tta.families.noise import RectifiedFlowProcess
from baton_tta.families.registry import register_family


@register_family
class StableAudio3Family(WaveformVAEFamily):
    pipeline_class_name = "StableAudio3Pipeline"
    trained_process = RectifiedFlowProcess
    trained_scheduler = "FlowMatchEulerDiscreteScheduler"
    display_name = "Stable Audio 3"
    compiled_blocks = ("StableAudio3DiTBlock",)
    denoiser_name = "transformer"
    lora_target_modules = ("to_qkv", "to_q", "to_kv", "to_out")
    hub_tags = ("stable-audio", "stable-audio-3")
    license = "other"
    license_note = "the Stability AI Community License of stabilityai/stable-audio-3-medium-base"
    length_argument = "duration"

    def num_samples(self, audio_length_s: float) -> int:
        """Rounded up to whole latent frames, as the pipeline sizes its latents."""
        ratio = int(self.pipeline.vae.downsampling_ratio)
        return math.ceil(audio_length_s * self.sampling_rate / ratio) * ratio

    def encode_conditioning(self, prompts: list[str], audio_length_s: float) -> Conditioning:
        pipe = self.pipeline
        embeds, mask = pipe.encode_prompt(list(prompts), self.device, 1)
        duration = pipe.encode_duration(audio_length_s, self.device, 1, len(prompts))
        context, context_mask = pipe.prepare_cross_attention(embeds, mask, duration)
        return {
            "encoder_hidden_states": context,
            "encoder_attention_mask": context_mask.bool(),
            "global_hidden_states": duration,
        }

    def encode_audio(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae = self.pipeline.vae
        latents = vae.encode(waveforms.to(vae.device, vae.dtype)).latents
        return latents, torch.zeros_like(latents)
