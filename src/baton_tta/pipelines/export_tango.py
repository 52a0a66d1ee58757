"""Write a :class:`TangoPipeline` in TANGO's original Hub layout: the inverse of
:mod:`baton_tta.pipelines.convert_tango`.

Tests use it to produce checkpoints with TANGO's exact file names, key names and configs from tiny
pipelines, so the converter is exercised on the layout it will meet on the Hub (no download).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from baton_tta.pipelines.convert_tango import (
    MAIN_CONFIG,
    MAIN_WEIGHTS,
    STFT_CONFIG,
    STFT_WEIGHTS,
    TANGO_SCHEDULER_NAME,
    VAE_CONFIG,
    VAE_WEIGHTS,
)
from baton_tta.pipelines.pipeline_tango import TangoPipeline, _mel_basis


def diffusers_vae_to_ldm(state: dict[str, torch.Tensor], num_blocks: int) -> dict[str, torch.Tensor]:
    """Rename a diffusers ``AutoencoderKL`` state dict into AudioLDM/LDM names (the inverse of
    diffusers' ``convert_ldm_vae_checkpoint``), so tests can write checkpoints in TANGO's layout."""
    attention = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    converted = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        parts = new.split(".")
        if parts[1] == "down_blocks":
            rest = ".".join(parts[3:])
            rest = rest.replace("resnets.", "block.").replace("downsamplers.0.", "downsample.")
            new = f"{parts[0]}.down.{parts[2]}.{rest}"
        elif parts[1] == "up_blocks":
            block = num_blocks - 1 - int(parts[2])
            rest = ".".join(parts[3:])
            rest = rest.replace("resnets.", "block.").replace("upsamplers.0.", "upsample.")
            new = f"{parts[0]}.up.{block}.{rest}"
        elif parts[1] == "mid_block":
            if parts[2] == "resnets":
                new = f"{parts[0]}.mid.block_{int(parts[3]) + 1}." + ".".join(parts[4:])
            else:
                inner = ".".join(parts[4:-1])
                new = f"{parts[0]}.mid.attn_1.{attention[inner]}.{parts[-1]}"
                if value.dim() == 2:
                    value = value[:, :, None, None]
        converted[new] = value.clone()
    return converted


def write_original_tango_checkpoint(pipeline: TangoPipeline, directory: str | Path) -> Path:
    """Write ``pipeline``'s weights in TANGO's original Hub layout (``main_config.json``,
    ``vae_config.json``, ``stft_config.json``, ``pytorch_model_{main,vae,stft}.bin``). The T5 config
    and tokenizer go to ``text_encoder/`` and ``main_config.json`` names that folder."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    text_dir = root / "text_encoder"
    pipeline.text_encoder.config.save_pretrained(text_dir)
    pipeline.tokenizer.save_pretrained(text_dir)
    main_config = {
        "text_encoder_name": str(text_dir),
        "scheduler_name": TANGO_SCHEDULER_NAME,
        "unet_model_config_path": "configs/diffusion_model_config.json",
        "snr_gamma": 5.0,
        "freeze_text_encoder": True,
        "uncondition": False,
    }
    vae = pipeline.vae.config
    mults = [c // vae.block_out_channels[0] for c in vae.block_out_channels]
    vae_config = {
        "image_key": "fbank",
        "subband": 1,
        "embed_dim": vae.latent_channels,
        "time_shuffle": 1,
        "scale_factor": vae.scaling_factor,
        "ddconfig": {
            "double_z": True,
            "z_channels": vae.latent_channels,
            "resolution": 256,
            "downsample_time": False,
            "in_channels": vae.in_channels,
            "out_ch": vae.out_channels,
            "ch": vae.block_out_channels[0],
            "ch_mult": mults,
            "num_res_blocks": vae.layers_per_block,
            "attn_resolutions": [],
            "dropout": 0.0,
            "norm_num_groups": vae.norm_num_groups,
        },
    }
    stft_config = {
        "filter_length": pipeline.config.mel_n_fft,
        "hop_length": pipeline.hop_length,
        "win_length": pipeline.config.mel_win_length,
        "n_mel_channels": pipeline.num_mel_bins,
        "sampling_rate": pipeline.sampling_rate,
        "mel_fmin": pipeline.config.mel_fmin,
        "mel_fmax": pipeline.config.mel_fmax,
    }
    for name, content in (
        (MAIN_CONFIG, main_config),
        (VAE_CONFIG, vae_config),
        (STFT_CONFIG, stft_config),
    ):
        (root / name).write_text(json.dumps(content, indent=2), encoding="utf-8")

    main_state = {f"unet.{k}": v.clone() for k, v in pipeline.unet.state_dict().items()}
    main_state.update({f"text_encoder.{k}": v.clone() for k, v in pipeline.text_encoder.state_dict().items()})
    vae_state = diffusers_vae_to_ldm(pipeline.vae.state_dict(), len(vae.block_out_channels))
    for key, value in pipeline.vocoder.state_dict().items():
        if key in ("mean", "scale"):
            continue
        original = f"ups.{key[len('upsampler.') :]}" if key.startswith("upsampler.") else key
        vae_state[f"vocoder.{original}"] = value.clone()
    mel_basis = _mel_basis(
        pipeline.sampling_rate,
        pipeline.config.mel_n_fft,
        pipeline.num_mel_bins,
        pipeline.config.mel_fmin,
        pipeline.config.mel_fmax,
    )
    torch.save(main_state, root / MAIN_WEIGHTS)
    torch.save(vae_state, root / VAE_WEIGHTS)
    torch.save({"mel_basis": mel_basis.clone()}, root / STFT_WEIGHTS)
    return root
