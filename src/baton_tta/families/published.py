"""Each family's denoiser at its published size, for memory planning and LoRA checks without a
download: built from its published configuration (on the meta device, so it costs no memory).

The configurations are the released checkpoints' (TANGO's shipped ``tango_unet.json``; AudioLDM 2's
as diffusers' conversion script writes it for ``cvssp/audioldm2``; Stable Audio Open 1.0 and Stable
Audio 3 Medium are diffusers' defaults for ``StableAudioDiTModel`` / ``StableAudio3DiTModel``), and
each entry carries the size its publisher states, so a drift between the two is visible
(``benchmarks/family_sizes.py`` prints both; a test keeps them within 5 %)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import torch
from diffusers import (
    AudioLDM2UNet2DConditionModel,
    StableAudio3DiTModel,
    StableAudioDiTModel,
    UNet2DConditionModel,
)


@dataclass(frozen=True)
class PublishedDenoiser:
    """A family's released denoiser: its class, configuration and the parameter count its publisher states."""

    pipeline_class_name: str
    checkpoint: str
    model_class: Any
    config: dict[str, Any] = field(default_factory=dict)
    published_parameters: float = 0.0
    published_source: str = ""

    def build(self, device: str = "meta") -> torch.nn.Module:
        with torch.device(device):
            return self.model_class.from_config(self.config)


def _tango_unet_config() -> dict[str, Any]:
    text = resources.files("baton_tta.pipelines").joinpath("configs", "tango_unet.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


_AUDIOLDM2_CONTEXT = [None, 768, 1024]  # self-attention, GPT-2 states, T5 states

PUBLISHED = {
    "TangoPipeline": PublishedDenoiser(
        "TangoPipeline",
        "declare-lab/tango",
        UNet2DConditionModel,
        _tango_unet_config(),
        865.9e6,
        "TANGO UNet, 865.9 M (the paper and the released checkpoint)",
    ),
    "AudioLDM2Pipeline": PublishedDenoiser(
        "AudioLDM2Pipeline",
        "cvssp/audioldm2",
        AudioLDM2UNet2DConditionModel,
        {
            "sample_size": 64,
            "in_channels": 8,
            "out_channels": 8,
            "down_block_types": (
                "DownBlock2D",
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
                "CrossAttnDownBlock2D",
            ),
            "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            "block_out_channels": (128, 256, 384, 640),
            "layers_per_block": 2,
            "transformer_layers_per_block": 1,
            "cross_attention_dim": tuple([_AUDIOLDM2_CONTEXT] * 4),
        },
        350e6,
        "AudioLDM 2 base UNet, 350 M (the cvssp/audioldm2 model card)",
    ),
    "StableAudioPipeline": PublishedDenoiser(
        "StableAudioPipeline",
        "stabilityai/stable-audio-open-1.0",
        StableAudioDiTModel,
        {},
        1.057e9,
        "Stable Audio Open DiT, 1057 M (the Stable Audio Open paper)",
    ),
    "StableAudio3Pipeline": PublishedDenoiser(
        "StableAudio3Pipeline",
        "stabilityai/stable-audio-3-medium-base",
        StableAudio3DiTModel,
        {},
        1.5e9,
        "Stable Audio 3 Medium base DiT, 1.5 B (the released base-DiT file name)",
    ),
}


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lora_targets(model: torch.nn.Module, target_modules: tuple[str, ...]) -> list[str]:
    """Module names PEFT would wrap for ``target_modules`` (suffix match on the full name, as PEFT does
    for a list of names)."""
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d | torch.nn.Conv1d)
        and any(name == t or name.endswith(f".{t}") for t in target_modules)
    ]
