"""The seam between BATON's training code and a text-to-audio pipeline: :class:`AudioFamily`.

Causal LMs share one forward signature, so TRL's trainers need no adapter; diffusion denoisers do
not (a UNet with one text stream, a UNet with two, DiTs with global and rotary inputs), so every
pipeline class gets one small adapter, registered by the pipeline's class name. The adapter names
the denoiser, encodes captions and clips **through the pipeline's own methods** (its
``encode_prompt``, duration / projection models, VAE encode), calls the denoiser with the keyword
arguments the pipeline's loop uses, and says how a clip's length is asked for. Everything else —
the noise process (:mod:`baton_tta.families.noise`, chosen from the scheduler), caching, LoRA,
saving — is shared. Adding a family is one file (docs/architecture.md, "Adding a family").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import diffusers
import numpy as np
import torch
from diffusers import DiffusionPipeline

from baton_tta.families.noise import NoiseProcess, TimestepSettings, noise_process_for

Conditioning = dict[str, torch.Tensor]


class AudioFamily(ABC):
    """What the trainers, the generation loop and the cards need to know about one pipeline class.

    Subclasses set the class attributes and implement :attr:`sampling_rate`, :meth:`num_samples`,
    :meth:`encode_conditioning` and :meth:`encode_audio` (and :meth:`denoise` /
    :meth:`null_conditioning` where the pipeline differs from the defaults)."""

    #: the diffusers pipeline class name this adapter serves (``model_index.json``'s ``_class_name``)
    pipeline_class_name: ClassVar[str]
    #: display name for cards and logs
    display_name: ClassVar[str]
    #: the pipeline component that trains
    denoiser_name: ClassVar[str] = "unet"
    #: modules of the denoiser that get LoRA adapters by default
    lora_target_modules: ClassVar[tuple[str, ...]] = ("to_q", "to_k", "to_v", "to_out.0")
    #: the noise process the released denoiser was trained with, and the scheduler class it ships
    trained_process: ClassVar[type[NoiseProcess]]
    trained_scheduler: ClassVar[str]
    #: the licence a fine-tune inherits from the family's published weights (a Hub licence id)
    license: ClassVar[str]
    #: where that licence is stated, for the card
    license_note: ClassVar[str]
    #: the ``__call__`` argument that sets a clip's length in seconds
    length_argument: ClassVar[str] = "audio_length_in_s"
    #: conditioning entries padded to the batch's longest caption → the mask that says which
    #: positions are real; the cache keeps them unpadded
    padded_sequences: ClassVar[dict[str, str]] = {}
    #: the pipeline reorders clips of a prompt (AudioLDM 2 ranks them by CLAP): generate one per call row
    reorders_clips: ClassVar[bool] = False
    #: the family's own Hub tags on a fine-tune's card (beside baton, text-to-audio, diffusers)
    hub_tags: ClassVar[tuple[str, ...]] = ()
    #: the denoiser's memory format for training on a GPU: UNet families train channels-last, cuDNN's
    #: native convolution layout (in NCHW a tenth of TANGO's step went to layout conversions)
    training_memory_format: ClassVar[torch.memory_format] = torch.contiguous_format
    #: the denoiser's repeated block classes, compiled one by one under ``torch_compile`` (regional
    #: compilation: one trace per block shape, reused for every copy, instead of a whole-model graph;
    #: ResNet blocks change width at every level, so each would be traced again)
    compiled_blocks: ClassVar[tuple[str, ...]] = ("BasicTransformerBlock",)  # diffusers' own choice for UNets
    #: the pipeline class is not diffusers' own: saved folders ship its code (load with trust_remote_code)
    remote_code: ClassVar[bool] = False

    def __init__(self, pipeline: DiffusionPipeline):
        self.pipeline = pipeline
        self._empty_caption: dict[float, Conditioning] = {}

    @classmethod
    def pipeline_class(cls) -> type[DiffusionPipeline]:
        """The pipeline class itself (diffusers' own, by name)."""
        return getattr(diffusers, cls.pipeline_class_name)

    # ------------------------------------------------------------------ components
    @property
    def denoiser(self) -> Any:
        """The trained component (a diffusers ``ModelMixin``: a UNet or a DiT)."""
        return getattr(self.pipeline, self.denoiser_name)

    def frozen_components(self) -> list[torch.nn.Module]:
        """Every neural component but the denoiser: run once as feature extractors, never trained."""
        return list(self.frozen_components_by_name().values())

    def frozen_components_by_name(self) -> dict[str, torch.nn.Module]:
        """:meth:`frozen_components` under their pipeline names."""
        return {
            name: module
            for name, module in self.pipeline.components.items()
            if name != self.denoiser_name and isinstance(module, torch.nn.Module)
        }

    @property
    def device(self) -> torch.device:
        return self.pipeline._execution_device

    # ------------------------------------------------------------------ audio geometry
    @property
    @abstractmethod
    def sampling_rate(self) -> int:
        """The rate clips are decoded at for this model."""

    @property
    def channels(self) -> int:
        return 1

    @abstractmethod
    def num_samples(self, audio_length_s: float) -> int:
        """Waveform samples the audio encoder takes for a clip of that length (clips are padded or cut)."""

    # ------------------------------------------------------------------ the noise process
    def noise_process(self, settings: TimestepSettings | None = None) -> NoiseProcess:
        """The process the pipeline's scheduler implies, which must be the one the family's denoiser
        was trained with (:attr:`trained_process`).

        A scheduler of the same process may replace the shipped one for sampling (DDIM or DPM-Solver
        for a DDPM model); one of another process would train the denoiser towards another target
        while the run exits 0 and its card names that process, so it is refused."""
        process = noise_process_for(self.pipeline.scheduler, settings)
        if not isinstance(process, self.trained_process):
            scheduler = type(self.pipeline.scheduler).__name__
            raise ValueError(
                f"{self.display_name}'s denoiser was trained as {self.trained_process.name}, but this "
                f"pipeline's scheduler {scheduler} implies {process.name}: training would teach it another "
                "target. Schedulers of the same process may be swapped in for sampling; to train, restore "
                f"the original: pipe.scheduler = {self.trained_scheduler}.from_pretrained(<the model>, "
                'subfolder="scheduler")'
            )
        return process

    # ------------------------------------------------------------------ encoding
    @abstractmethod
    def encode_conditioning(self, prompts: list[str], audio_length_s: float) -> Conditioning:
        """Captions (and, where the model is told, the clip length) → the denoiser's conditioning
        keyword arguments, batch first."""

    def null_conditioning(self, conditioning: Conditioning, audio_length_s: float) -> Conditioning:
        """The unconditional input that condition dropout substitutes, as the family's sampler uses
        it for classifier-free guidance: by default the empty caption's conditioning, encoded once
        per clip length and expanded to the batch."""
        self.prepare_for_parking(audio_length_s)
        size = _batch(conditioning)
        return {
            key: value.to(conditioning[key].device).expand(size, *value.shape[1:])
            for key, value in self._empty_caption[audio_length_s].items()
        }

    def prepare_for_parking(self, audio_length_s: float) -> None:
        """Compute, while the frozen components are still on the training device, what training
        needs from them once they are parked: the empty caption's conditioning of
        :meth:`null_conditioning` (families whose null input is zeros need nothing)."""
        if audio_length_s not in self._empty_caption:
            with torch.no_grad():
                self._empty_caption[audio_length_s] = self.encode_conditioning([""], audio_length_s)

    @abstractmethod
    def encode_audio(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms ``(batch, channels, samples)`` at :attr:`sampling_rate`, already of
        :meth:`num_samples` length → the latent posterior's (mean, std), unscaled; std is zeros for a
        deterministic encoder."""

    @property
    def latent_scale(self) -> float:
        """Factor from VAE latents to the denoiser's latents (``vae.config.scaling_factor``)."""
        return float(getattr(self.pipeline.vae.config, "scaling_factor", None) or 1.0)

    def enable_activation_checkpointing(self) -> None:
        """Recompute the denoiser's blocks in backward instead of storing their activations
        (diffusers' own switch; a family whose checkpointed path differs overrides this)."""
        self.denoiser.enable_gradient_checkpointing()

    def use_training_memory_format(self) -> None:
        """Lay the denoiser's weights out in :attr:`training_memory_format` (4-D weights only)."""
        self.denoiser.to(memory_format=self.training_memory_format)

    def compile_denoiser(self, **compile_kwargs: Any) -> int:
        """Compile each of the denoiser's :attr:`compiled_blocks` in place (``nn.Module.compile``: the
        module keeps its class, names and state dict); returns how many were compiled.

        Not accelerate's regional compilation: it wraps leaf modules in ``OptimizedModule``, whose
        truth value raises, and diffusers' UNets test ``if self.conv_norm_out:``."""
        return self.compile_blocks(self.denoiser, **compile_kwargs)

    def compile_blocks(self, denoiser: torch.nn.Module, **compile_kwargs: Any) -> int:
        """:meth:`compile_denoiser` on any denoiser of this family (a frozen reference copy: ``deepcopy``
        drops a module's compiled call).

        Batch and sequence sizes are symbolic (``dynamic=True`` unless asked otherwise): every copy of a
        block shares one dynamo cache (one ``forward``), and with static sizes each caption length ×
        batch size × width took a graph of its own until dynamo's limit of 8 sent the rest to eager.
        Widths stay static (parameter shapes), so what is left is one graph per
        :func:`block_shape_classes` entry and mode (see :data:`GRAPHS_PER_SHAPE_CLASS`)."""
        blocks = [m for m in denoiser.modules() if type(m).__name__ in self.compiled_blocks]
        if not blocks:
            raise ValueError(f"{self.display_name}'s denoiser has none of the blocks {self.compiled_blocks}")
        settings = {"dynamic": True, **compile_kwargs}
        for block in blocks:
            block.compile(**settings)
        return len(blocks)

    def denoise(
        self, model: torch.nn.Module, noisy: torch.Tensor, timesteps: torch.Tensor, conditioning: Conditioning
    ) -> torch.Tensor:
        """One denoiser call as the pipeline's loop makes it."""
        return model(noisy, timesteps, **conditioning, return_dict=False)[0]

    # ------------------------------------------------------------------ generation
    def generation_kwargs(self, audio_length_s: float) -> dict[str, Any]:
        """The ``__call__`` keywords that ask for clips of that length as numpy arrays."""
        return {self.length_argument: audio_length_s}

    def clips_from_output(self, audios: Any) -> list[np.ndarray]:
        """The pipeline's ``.audios`` → one float32 array per clip: ``(samples,)`` mono,
        ``(samples, channels)`` otherwise (soundfile's layout)."""
        if isinstance(audios, torch.Tensor):  # one copy to the host for the batch, not one per clip
            audios = audios.detach().float().cpu().numpy()
        clips = []
        for audio in audios:
            array = (
                audio.detach().float().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
            )
            array = array.astype(np.float32, copy=False)
            if array.ndim == 2:
                array = array[0] if array.shape[0] == 1 else array.T
            clips.append(array)
        return clips

    # ------------------------------------------------------------------ saving
    def pipeline_with(self, **replacements: Any) -> DiffusionPipeline:
        """A pipeline of the same class and settings sharing every component but ``replacements``.

        Not diffusers' ``from_pipe``: it drops (with a warning) any component whose class is not its
        type hint's, such as the toy world's Griffin-Lim vocoder in a ``TangoPipeline``, and the
        pipeline then fails to build."""
        components = {**self.pipeline.components, **replacements}
        settings = {
            k: v
            for k, v in self.pipeline.config.items()
            if not k.startswith("_") and k not in self.pipeline.components
        }
        return type(self.pipeline)(**components, **settings)


class WaveformVAEFamily(AudioFamily):
    """Families whose VAE encodes waveforms directly (Stable Audio's Oobleck and SAME): the rate and
    the channel count are the VAE's."""

    @property
    def sampling_rate(self) -> int:
        return int(self.pipeline.vae.config.sampling_rate)

    @property
    def channels(self) -> int:
        return int(self.pipeline.vae.config.audio_channels)


def _batch(conditioning: Conditioning) -> int:
    return next(iter(conditioning.values())).shape[0]


def fit_length(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Pad with zeros or trim the last axis, so clips stack."""
    if wave.shape[-1] >= num_samples:
        return wave[..., :num_samples]
    pad = [(0, 0)] * (wave.ndim - 1) + [(0, num_samples - wave.shape[-1])]
    return np.pad(wave, pad)


def stack_waves(waves: Sequence[np.ndarray], num_samples: int, channels: int) -> torch.Tensor:
    """Decoded clips (``(samples,)`` or ``(channels, samples)``) → ``(batch, channels, samples)``."""
    rows = []
    for wave in waves:
        wave = wave[None] if wave.ndim == 1 else wave
        if wave.shape[0] != channels:
            raise ValueError(f"clip has {wave.shape[0]} channel(s), the model takes {channels}")
        rows.append(fit_length(wave, num_samples))
    return torch.from_numpy(np.stack(rows))


class ZeroedCaptionNull:
    """A family whose unconditional input is the caption's states zeroed, everything else kept (TANGO's
    training uncondition, Stable Audio Open's unconditional branch): nothing to compute before parking."""

    def null_conditioning(self, conditioning: Conditioning, audio_length_s: float) -> Conditioning:
        return {
            **conditioning,
            "encoder_hidden_states": torch.zeros_like(conditioning["encoder_hidden_states"]),
        }

    def prepare_for_parking(self, audio_length_s: float) -> None:
        """Nothing: zeros need no frozen component."""
