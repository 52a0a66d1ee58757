"""Stable Audio Open (``StableAudioPipeline``): T5 + a projection model with start/end-seconds
conditioning into ``StableAudioDiTModel`` (rotary positions passed by the pipeline), the Oobleck
waveform VAE at 44.1 kHz stereo, the continuous-time v-objective (``CosineDPMSolverMultistepScheduler``).

The DiT always denoises ``transformer.config.sample_size`` latent frames and the pipeline trims the
decoded audio to ``audio_end_in_s``; training does the same as stable-audio-tools does: a clip is
padded with silence to the full window and its length is told through the seconds conditioning."""

from __future__ import annotations

import torch
from diffusers.models.embeddings import get_1d_rotary_pos_embed

from baton_tta.families.base import Conditioning, WaveformVAEFamily, ZeroedCaptionNull
from baton_tta.families.noise import CosineVProcess
from baton_tta.families.registry import register_family


@register_family
class StableAudioFamily(ZeroedCaptionNull, WaveformVAEFamily):  # null: text-and-duration tokens zeroed
    pipeline_class_name = "StableAudioPipeline"
    trained_process = CosineVProcess
    trained_scheduler = "CosineDPMSolverMultistepScheduler"
    display_name = "Stable Audio Open"
    compiled_blocks = ("StableAudioDiTBlock",)
    denoiser_name = "transformer"
    hub_tags = ("stable-audio",)
    license = "other"
    license_note = "the Stability AI Community License of stabilityai/stable-audio-open-1.0"
    length_argument = "audio_end_in_s"

    def __init__(self, pipeline) -> None:
        super().__init__(pipeline)
        self._rotary_cache: dict[tuple[int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def max_length_s(self) -> float:
        pipe = self.pipeline
        return pipe.transformer.config.sample_size * pipe.vae.hop_length / self.sampling_rate

    def num_samples(self, audio_length_s: float) -> int:
        if audio_length_s > self.max_length_s + 1e-9:
            raise ValueError(
                f"audio_length_s {audio_length_s:g} s is longer than this model's window ({self.max_length_s:g} s)"
            )
        return int(self.pipeline.transformer.config.sample_size) * int(self.pipeline.vae.hop_length)

    def encode_conditioning(self, prompts: list[str], audio_length_s: float) -> Conditioning:
        pipe = self.pipeline
        prompt_embeds = pipe.encode_prompt(list(prompts), self.device, do_classifier_free_guidance=False)
        start, end = pipe.encode_duration(0.0, audio_length_s, self.device, False, len(prompts))
        return {
            "encoder_hidden_states": torch.cat([prompt_embeds, start, end], dim=1),
            "global_hidden_states": torch.cat([start, end], dim=2),
        }

    def encode_audio(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae = self.pipeline.vae
        posterior = vae.encode(waveforms.to(vae.device, vae.dtype)).latent_dist
        return posterior.mean, posterior.std

    def denoise(self, model, noisy, timesteps, conditioning):
        rotary = self._rotary(noisy.shape[2] + conditioning["global_hidden_states"].shape[1], noisy.device)
        return model(noisy, timesteps, **conditioning, rotary_embedding=rotary, return_dict=False)[0]

    def _rotary(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The pipeline's rotary embedding for ``length`` positions, built once per length and device
        (diffusers builds it on the CPU: a copy per denoiser call otherwise)."""
        key = (length, device)
        if key not in self._rotary_cache:
            parts = get_1d_rotary_pos_embed(
                self.pipeline.rotary_embed_dim, length, use_real=True, repeat_interleave_real=False
            )
            self._rotary_cache[key] = (parts[0].to(device), parts[1].to(device))
        return self._rotary_cache[key]
