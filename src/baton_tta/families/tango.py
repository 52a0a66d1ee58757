"""TANGO and Tango 2 (:class:`~baton_tta.pipelines.pipeline_tango.TangoPipeline`): Flan-T5 states with
their padding mask into a UNet, AudioLDM's mel VAE, HiFi-GAN at 16 kHz, DDPM with v-prediction."""

from __future__ import annotations

from typing import ClassVar

import torch

from baton_tta.families.base import AudioFamily, Conditioning, ZeroedCaptionNull
from baton_tta.families.noise import DDPMProcess
from baton_tta.families.registry import register_family
from baton_tta.pipelines.pipeline_tango import TangoPipeline


@register_family
class TangoFamily(ZeroedCaptionNull, AudioFamily):  # null: the caption states zeroed, mask kept
    pipeline_class_name = "TangoPipeline"
    trained_process = DDPMProcess
    trained_scheduler = "DDPMScheduler"
    display_name = "TANGO"
    training_memory_format = torch.channels_last  # a UNet: convolutions run in cuDNN's layout
    hub_tags = ("tango",)
    license = "cc-by-nc-sa-4.0"
    license_note = "inherited from TANGO's released weights (declare-lab/tango)"
    padded_sequences: ClassVar[dict[str, str]] = {"encoder_hidden_states": "encoder_attention_mask"}

    @classmethod
    def pipeline_class(cls) -> type[TangoPipeline]:
        return TangoPipeline

    @property
    def sampling_rate(self) -> int:
        return self.pipeline.sampling_rate

    def num_samples(self, audio_length_s: float) -> int:
        return self.pipeline.num_frames_for(audio_length_s) * self.pipeline.hop_length

    def encode_conditioning(self, prompts: list[str], audio_length_s: float) -> Conditioning:
        hidden, mask = self.pipeline.encode_text(list(prompts))
        return {"encoder_hidden_states": hidden, "encoder_attention_mask": mask}

    remote_code = True

    def encode_audio(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pipe = self.pipeline
        num_samples = waveforms.shape[-1]
        waveform = waveforms[:, 0].to(pipe.vae.device)
        mel = pipe.waveform_to_mel(
            pipe.prepare_waveform(waveform, num_samples), num_frames=num_samples // pipe.hop_length
        )
        posterior = pipe.encode_mel(mel)
        return posterior.mean, posterior.std
