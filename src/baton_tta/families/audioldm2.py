"""AudioLDM 2 (``AudioLDM2Pipeline``): CLAP + T5 → projection → GPT-2 "language of audio", two
cross-attention streams into ``AudioLDM2UNet2DConditionModel``, AudioLDM's mel VAE, HiFi-GAN at 16 kHz.

The mel front end is AudioLDM's (normalise, STFT 1024/160, 64 mel bins, 0–8 kHz, log-clamp): the
pipeline only decodes, so the encoding side uses the same front end TANGO inherited from AudioLDM
(:func:`~baton_tta.pipelines.pipeline_tango.log_mel_spectrogram`), with the geometry read from the
pipeline's vocoder."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from diffusers.models.transformers.transformer_2d import Transformer2DModel
from torch.utils.checkpoint import checkpoint

from baton_tta.families.base import AudioFamily, Conditioning
from baton_tta.families.noise import DDPMProcess
from baton_tta.families.registry import register_family
from baton_tta.pipelines.pipeline_tango import log_mel_spectrogram, prepare_waveform

#: AudioLDM's STFT and mel range (the vocoder config gives rate, hop and bins)
MEL_N_FFT, MEL_WIN_LENGTH, MEL_FMIN, MEL_FMAX = 1024, 1024, 0.0, 8000.0


@register_family
class AudioLDM2Family(AudioFamily):
    pipeline_class_name = "AudioLDM2Pipeline"
    trained_process = DDPMProcess
    trained_scheduler = "DDIMScheduler"
    display_name = "AudioLDM 2"
    training_memory_format = torch.channels_last  # a UNet: convolutions run in cuDNN's layout
    hub_tags = ("audioldm2",)
    license = "cc-by-nc-sa-4.0"
    license_note = "inherited from AudioLDM 2's released weights (cvssp/audioldm2)"
    padded_sequences: ClassVar[dict[str, str]] = {"encoder_hidden_states_1": "encoder_attention_mask_1"}
    reorders_clips = True  # with several waveforms per prompt it ranks them by CLAP score

    @property
    def sampling_rate(self) -> int:
        return int(self.pipeline.vocoder.config.sampling_rate)

    @property
    def hop_length(self) -> int:
        return math.prod(self.pipeline.vocoder.config.upsample_rates)

    def num_frames(self, audio_length_s: float) -> int:
        """Mel frames for that length, rounded as ``AudioLDM2Pipeline.__call__`` rounds its latent height."""
        frames = int(audio_length_s * self.sampling_rate / self.hop_length)
        factor = self.pipeline.vae_scale_factor
        return math.ceil(frames / factor) * factor

    def num_samples(self, audio_length_s: float) -> int:
        return self.num_frames(audio_length_s) * self.hop_length

    def enable_activation_checkpointing(self) -> None:
        """diffusers' switch, with a checkpoint function that passes the attention blocks' arguments
        by name (:func:`checkpoint_by_name`)."""
        self.denoiser.enable_gradient_checkpointing(gradient_checkpointing_func=checkpoint_by_name)

    def encode_conditioning(self, prompts: list[str], audio_length_s: float) -> Conditioning:
        prompt_embeds, mask, generated = self.pipeline.encode_prompt(
            list(prompts), self.device, num_waveforms_per_prompt=1, do_classifier_free_guidance=False
        )
        return {
            "encoder_hidden_states": generated,
            "encoder_hidden_states_1": prompt_embeds,
            "encoder_attention_mask_1": mask.bool(),
        }

    def encode_audio(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae = self.pipeline.vae
        num_samples = waveforms.shape[-1]
        waveform = prepare_waveform(waveforms[:, 0].to(vae.device), num_samples)
        mel = log_mel_spectrogram(
            waveform,
            sampling_rate=self.sampling_rate,
            hop_length=self.hop_length,
            n_mels=int(self.pipeline.vocoder.config.model_in_dim),
            n_fft=MEL_N_FFT,
            win_length=MEL_WIN_LENGTH,
            fmin=MEL_FMIN,
            fmax=MEL_FMAX,
        )[:, : num_samples // self.hop_length]
        posterior = vae.encode(mel.unsqueeze(1).to(vae.dtype)).latent_dist
        return posterior.mean, posterior.std


#: The positional order in which ``AudioLDM2UNet2DConditionModel``'s checkpointed blocks pass their
#: ``Transformer2DModel`` arguments (diffusers 0.42, ``modeling_audioldm2.py``).
_CHECKPOINTED_ATTENTION_ARGUMENTS = (
    "encoder_hidden_states",
    "timestep",
    "class_labels",
    "cross_attention_kwargs",
    "attention_mask",
    "encoder_attention_mask",
)


def checkpoint_by_name(module: torch.nn.Module, *args: Any) -> Any:
    """Non-reentrant activation checkpointing for AudioLDM 2's UNet.

    Its down, mid and up blocks call each checkpointed ``Transformer2DModel`` with seven positional
    arguments that skip the model's ``added_cond_kwargs`` slot, so every argument after ``timestep``
    lands one place off and the encoder's attention mask arrives as the self-attention mask (a shape
    error, or a wrong mask where the shapes happen to agree). This passes those arguments by name, in
    the order the blocks write them; every other module is checkpointed as diffusers does."""
    if isinstance(module, Transformer2DModel) and len(args) == 1 + len(_CHECKPOINTED_ATTENTION_ARGUMENTS):
        named = dict(zip(_CHECKPOINTED_ATTENTION_ARGUMENTS, args[1:]))
        return checkpoint(module.__call__, args[0], use_reentrant=False, **named)
    return checkpoint(module.__call__, *args, use_reentrant=False)
