"""LoRA on any denoiser: UNets through diffusers' ``add_adapter``, DiTs that lack it through PEFT.

diffusers gives ``UNet2DConditionModel`` (TANGO) its PEFT integration and the pipeline-level LoRA
file format (``pytorch_lora_weights.safetensors`` with ``unet.`` keys, loadable with
``pipe.load_lora_weights``); the Stable Audio DiTs and AudioLDM 2's UNet have neither, so their
adapters are injected with ``peft.inject_adapter_in_model`` and saved in PEFT's own layout
(``adapter_config.json`` + ``pytorch_lora_weights.safetensors``). Merging is one path for every
family: each LoRA layer folds its update into its base weight, and the clean denoiser is rebuilt
from its config with those weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors.torch import save_file

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"
LORA_CONFIG = "adapter_config.json"


def add_lora(denoiser: Any, config: LoraConfig) -> None:
    """Add trainable LoRA adapters (the base weights must already be frozen)."""
    if hasattr(denoiser, "add_adapter"):
        denoiser.add_adapter(config)
    else:
        inject_adapter_in_model(config, denoiser)
        denoiser.baton_lora_config = config


def lora_config_of(denoiser: Any) -> LoraConfig:
    if hasattr(denoiser, "peft_config"):
        return denoiser.peft_config["default"]
    return denoiser.baton_lora_config


def set_lora_enabled(denoiser: torch.nn.Module, enabled: bool) -> None:
    """Switch every adapter on or off (off = the frozen base model, Diffusion-DPO's reference)."""
    for module in denoiser.modules():
        if isinstance(module, BaseTunerLayer):
            module.enable_adapters(enabled)


def lora_state_dict(denoiser: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The adapter matrices under PEFT's names (the adapter name dropped)."""
    return {
        name.replace(".default", ""): tensor.detach().cpu().contiguous()
        for name, tensor in denoiser.state_dict().items()
        if "lora_" in name
    }


def has_lora_loader(pipeline: DiffusionPipeline) -> bool:
    """Whether the pipeline has diffusers' LoRA file format (``save_lora_weights`` /
    ``load_lora_weights``); the others get PEFT's layout."""
    return hasattr(pipeline, "save_lora_weights") and hasattr(pipeline, "load_lora_weights")


def save_lora(
    pipeline: DiffusionPipeline, denoiser_name: str, denoiser: torch.nn.Module, folder: Path
) -> None:
    """The adapters in the format the pipeline's own loader reads, else PEFT's layout."""
    config = lora_config_of(denoiser)
    if has_lora_loader(pipeline):
        # the adapter metadata carries lora_alpha: without it a loader assumes alpha = rank
        type(pipeline).save_lora_weights(
            folder,
            **{f"{denoiser_name}_lora_layers": lora_state_dict(denoiser)},
            **{f"{denoiser_name}_lora_adapter_metadata": config.to_dict()},
        )
        return
    os.makedirs(folder, exist_ok=True)
    save_file(lora_state_dict(denoiser), os.path.join(folder, LORA_WEIGHTS))
    settings = {k: (sorted(v) if isinstance(v, set) else v) for k, v in config.to_dict().items()}
    Path(folder, LORA_CONFIG).write_text(json.dumps(settings, indent=2, default=str), encoding="utf-8")


def base_denoiser(denoiser: Any, merge: bool) -> torch.nn.Module:
    """A clean denoiser of the same class: the base weights (``merge=False``; they are frozen, so
    unchanged by training) or the base weights with every active adapter merged in — computed layer by
    layer into a new state dict (the trained denoiser is neither copied nor changed) and assigned to a
    denoiser built on the meta device (no random initialisation of a second full model)."""
    state = {
        name.replace(".base_layer", ""): tensor
        for name, tensor in denoiser.state_dict().items()
        if "lora_" not in name
    }
    if merge:
        with torch.no_grad():
            for name, module in denoiser.named_modules():
                if not isinstance(module, BaseTunerLayer):
                    continue
                for adapter in module.active_adapters:
                    weight = f"{name}.weight"
                    state[weight] = state[weight] + module.get_delta_weight(adapter).to(state[weight].dtype)
                    if getattr(module, "lora_bias", {}).get(adapter, False):
                        bias = f"{name}.bias"
                        state[bias] = state[bias] + module.lora_B[adapter].bias.to(state[bias].dtype)
    with torch.device("meta"):
        clean = type(denoiser).from_config(denoiser.config)
    clean.load_state_dict(state, assign=True)
    return clean
