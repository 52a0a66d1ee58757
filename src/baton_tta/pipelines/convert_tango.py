"""Convert TANGO's original checkpoint folder into a diffusers :class:`TangoPipeline` folder.

TANGO's Hub repos (declare-lab/tango, tango-full-ft-audiocaps, tango2, ...) hold ``main_config.json``,
``vae_config.json``, ``stft_config.json`` and three pickled state dicts: ``pytorch_model_main.bin``
(``unet.*`` in diffusers names + ``text_encoder.*`` in transformers T5 names),
``pytorch_model_vae.bin`` (AudioLDM's VAE in LDM names, with the HiFi-GAN under ``vocoder.*``) and
``pytorch_model_stft.bin`` (TacotronSTFT buffers). The UNet config is not in those repos
(``main_config.json`` points at ``configs/diffusion_model_config.json`` of the code repository), so
this package ships it, with TANGO's scheduler and vocoder settings, in ``pipelines/configs/``.

Weights are read with ``torch.load(weights_only=True)``: a file that needs arbitrary unpickling is
refused. Every key that is not used, and every parameter left without a value, is reported by name.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
from transformers import AutoTokenizer, SpeechT5HifiGan, SpeechT5HifiGanConfig, T5Config, T5EncoderModel

from baton_tta.pipelines.pipeline_tango import TangoPipeline, _mel_basis

logger = logging.getLogger(__name__)

MAIN_WEIGHTS = "pytorch_model_main.bin"
VAE_WEIGHTS = "pytorch_model_vae.bin"
STFT_WEIGHTS = "pytorch_model_stft.bin"
MAIN_CONFIG = "main_config.json"
VAE_CONFIG = "vae_config.json"
STFT_CONFIG = "stft_config.json"
#: TANGO's scheduler source; its DDPM settings are shipped so conversion needs no download.
TANGO_SCHEDULER_NAME = "stabilityai/stable-diffusion-2-1"
MEL_BASIS_TOLERANCE = 1e-4


def shipped_config(name: str) -> dict[str, Any]:
    """One of the JSON configs shipped in ``baton_tta/pipelines/configs`` (tango_unet, tango_scheduler,
    tango_vocoder)."""
    text = resources.files("baton_tta.pipelines").joinpath("configs", f"{name}.json").read_text("utf-8")
    return json.loads(text)


@dataclass
class ComponentReport:
    """What loading one component's weights left over: source keys nobody used, and parameters of
    the diffusers/transformers model that received no value."""

    unexpected_keys: list[str] = field(default_factory=list)
    missing_keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unexpected_keys and not self.missing_keys


@dataclass
class ConversionReport:
    components: dict[str, ComponentReport] = field(default_factory=dict)
    mel_basis_max_abs_diff: float | None = None

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.components.values())

    def describe(self, limit: int = 20) -> str:
        lines = []
        for name, report in self.components.items():
            for kind, keys in (
                ("unexpected (unused) keys", report.unexpected_keys),
                ("missing keys", report.missing_keys),
            ):
                if keys:
                    shown = ", ".join(keys[:limit]) + (
                        f", … ({len(keys) - limit} more)" if len(keys) > limit else ""
                    )
                    lines.append(f"{name}: {len(keys)} {kind}: {shown}")
        return "\n".join(lines) if lines else "all keys matched"


def load_original_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a pickled TANGO state dict safely (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TANGO weight file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path}: refusing to load: the file needs arbitrary code to unpickle (weights_only=True "
            f"rejected it: {error}). Only plain state dicts of tensors are accepted."
        ) from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"{path}: expected a state dict mapping names to tensors, got {type(state).__name__}"
        )
    return state


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TANGO config file not found")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def split_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix`` with the prefix removed."""
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def load_into(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> ComponentReport:
    """Load ``state`` non-strictly and report what did not line up. Parameters tied to a loaded one
    (T5's ``encoder.embed_tokens`` ↔ ``shared``) and buffers that the model derives itself
    (HiFi-GAN ``mean``/``scale`` when ``normalize_before`` is off) do not count as missing."""
    result = model.load_state_dict(state, strict=False)
    loaded_storage = {
        tensor.untyped_storage().data_ptr() for name, tensor in model.state_dict().items() if name in state
    }
    buffers = dict(model.named_buffers())
    missing = []
    for name in result.missing_keys:
        tensor = model.state_dict()[name]
        if tensor.untyped_storage().data_ptr() in loaded_storage:
            continue
        if name in buffers and isinstance(model, SpeechT5HifiGan) and not model.config.normalize_before:
            continue
        missing.append(name)
    return ComponentReport(unexpected_keys=sorted(result.unexpected_keys), missing_keys=sorted(missing))


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace HiFi-GAN ``weight_g``/``weight_v`` pairs (weight norm still applied) by ``weight``."""
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            stem = key[: -len(".weight_v")]
            gain = state.get(f"{stem}.weight_g")
            if gain is None:
                raise ValueError(f"{key} has no matching {stem}.weight_g")
            folded[f"{stem}.weight"] = torch._weight_norm(value, gain, dim=0)
        else:
            folded[key] = value
    return folded


def hifigan_to_speecht5(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """AudioLDM/HiFi-GAN generator names → transformers ``SpeechT5HifiGan`` names (only the
    up-sampling stack is named differently: ``ups`` vs ``upsampler``)."""
    state = fold_weight_norm(state)
    return {
        (f"upsampler.{key[4:]}" if key.startswith("ups.") else key): value for key, value in state.items()
    }


def vae_config_from_audioldm(vae_config: dict[str, Any]) -> dict[str, Any]:
    """AudioLDM ``AutoencoderKL(ddconfig=..., embed_dim=..., scale_factor=...)`` → diffusers config."""
    dd = vae_config["ddconfig"]
    if vae_config.get("subband", 1) != 1:
        raise ValueError(f"vae_config.json: subband={vae_config['subband']} is not supported (TANGO uses 1)")
    if vae_config.get("embed_dim", dd["z_channels"]) != dd["z_channels"]:
        raise ValueError(
            "vae_config.json: embed_dim must equal ddconfig.z_channels for diffusers' AutoencoderKL"
        )
    channels = [dd["ch"] * mult for mult in dd["ch_mult"]]
    return {
        "in_channels": dd["in_channels"],
        "out_channels": dd["out_ch"],
        "down_block_types": ["DownEncoderBlock2D"] * len(channels),
        "up_block_types": ["UpDecoderBlock2D"] * len(channels),
        "block_out_channels": channels,
        "layers_per_block": dd["num_res_blocks"],
        "latent_channels": dd["z_channels"],
        "sample_size": dd.get("resolution", 256),
        "scaling_factor": float(vae_config.get("scale_factor", 1.0)),
        **({"norm_num_groups": dd["norm_num_groups"]} if "norm_num_groups" in dd else {}),
    }


def _unused_source_keys(source: dict[str, torch.Tensor], converted: dict[str, torch.Tensor]) -> list[str]:
    """Source keys whose tensor storage was not carried into the converted dict."""
    used = {tensor.untyped_storage().data_ptr() for tensor in converted.values()}
    return sorted(key for key, tensor in source.items() if tensor.untyped_storage().data_ptr() not in used)


def convert_tango_checkpoint(
    checkpoint_dir: str | os.PathLike,
    text_encoder_name_or_path: str | os.PathLike | None = None,
    unet_config: dict[str, Any] | str | os.PathLike | None = None,
    vocoder_config: dict[str, Any] | None = None,
    scheduler_config: dict[str, Any] | None = None,
    strict: bool = True,
) -> tuple[TangoPipeline, ConversionReport]:
    """Build a :class:`TangoPipeline` from an original TANGO checkpoint folder.

    Args:
        checkpoint_dir: folder with TANGO's ``*_config.json`` and ``pytorch_model_*.bin`` files.
        text_encoder_name_or_path: where the T5 config and tokenizer come from (the weights come from
            the checkpoint); defaults to ``main_config.json``'s ``text_encoder_name`` (google/flan-t5-large).
        unet_config: UNet config dict or JSON path; defaults to TANGO's, shipped with this package.
        vocoder_config: ``SpeechT5HifiGanConfig`` kwargs; defaults to TANGO's 16 kHz / 64-mel HiFi-GAN.
        scheduler_config: DDPM scheduler kwargs; defaults to TANGO's (stable-diffusion-2-1, v-prediction).
        strict: raise ``ValueError`` listing every unused or missing key (default); if False, log them.
    """
    root = Path(checkpoint_dir)
    main_config = _read_json(root / MAIN_CONFIG)
    vae_config = _read_json(root / VAE_CONFIG)
    stft_config = _read_json(root / STFT_CONFIG) if (root / STFT_CONFIG).is_file() else {}
    main_state = load_original_state_dict(root / MAIN_WEIGHTS)
    vae_state = load_original_state_dict(root / VAE_WEIGHTS)
    report = ConversionReport()

    unet_kwargs = shipped_config("tango_unet") if unet_config is None else unet_config
    if not isinstance(unet_kwargs, dict):
        unet_kwargs = _read_json(Path(unet_kwargs))
    unet = UNet2DConditionModel.from_config(unet_kwargs)
    report.components["unet"] = load_into(unet, split_prefix(main_state, "unet."))

    text_source = text_encoder_name_or_path or main_config.get("text_encoder_name", "google/flan-t5-large")
    tokenizer = AutoTokenizer.from_pretrained(text_source)
    text_encoder = T5EncoderModel(T5Config.from_pretrained(text_source))
    report.components["text_encoder"] = load_into(text_encoder, split_prefix(main_state, "text_encoder."))
    other_main = sorted(k for k in main_state if not k.startswith(("unet.", "text_encoder.")))
    report.components["unet"].unexpected_keys += other_main

    vae_kwargs = vae_config_from_audioldm(vae_config)
    ldm_vae_state = {k: v for k, v in vae_state.items() if not k.startswith("vocoder.")}
    diffusers_vae_state = convert_ldm_vae_checkpoint(ldm_vae_state, vae_kwargs)
    vae = AutoencoderKL(**vae_kwargs)
    vae_report = load_into(vae, diffusers_vae_state)
    vae_report.unexpected_keys = sorted(
        set(vae_report.unexpected_keys) | set(_unused_source_keys(ldm_vae_state, diffusers_vae_state))
    )
    report.components["vae"] = vae_report

    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(**(vocoder_config or shipped_config("tango_vocoder"))))
    report.components["vocoder"] = load_into(
        vocoder, hifigan_to_speecht5(split_prefix(vae_state, "vocoder."))
    )

    scheduler_kwargs = scheduler_config or shipped_config("tango_scheduler")
    if (
        scheduler_config is None
        and main_config.get("scheduler_name", TANGO_SCHEDULER_NAME) != TANGO_SCHEDULER_NAME
    ):
        logger.warning(
            "main_config.json names scheduler %r; the shipped %s DDPM settings are used instead "
            "(pass scheduler_config to override)",
            main_config["scheduler_name"],
            TANGO_SCHEDULER_NAME,
        )
    scheduler = DDPMScheduler.from_config(scheduler_kwargs)

    mel_kwargs = _mel_settings(stft_config, vocoder.config)
    pipeline = TangoPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        vocoder=vocoder.eval(),
        **mel_kwargs,
    )
    if (root / STFT_WEIGHTS).is_file():
        report.mel_basis_max_abs_diff = _check_mel_basis(
            load_original_state_dict(root / STFT_WEIGHTS), pipeline
        )

    if not report.ok:
        message = f"{root}: TANGO checkpoint did not line up with the diffusers layout:\n{report.describe()}"
        if strict:
            raise ValueError(message)
        logger.warning(message)
    return pipeline, report


def _mel_settings(stft_config: dict[str, Any], vocoder_config: SpeechT5HifiGanConfig) -> dict[str, Any]:
    """Front-end settings from ``stft_config.json``, checked against what the vocoder inverts."""
    hop = 1
    for rate in vocoder_config.upsample_rates:
        hop *= rate
    expected = {
        "hop_length": hop,
        "sampling_rate": vocoder_config.sampling_rate,
        "n_mel_channels": vocoder_config.model_in_dim,
    }
    for key, value in expected.items():
        if key in stft_config and int(stft_config[key]) != int(value):
            raise ValueError(
                f"{STFT_CONFIG}: {key}={stft_config[key]} does not match the vocoder's {value}; "
                "pass the vocoder_config that belongs to this checkpoint"
            )
    return {
        "mel_n_fft": int(stft_config.get("filter_length", 1024)),
        "mel_win_length": int(stft_config.get("win_length", 1024)),
        "mel_fmin": float(stft_config.get("mel_fmin", 0.0)),
        "mel_fmax": float(stft_config.get("mel_fmax", 8000.0)),
    }


def _check_mel_basis(stft_state: dict[str, torch.Tensor], pipeline: TangoPipeline) -> float | None:
    """Compare TANGO's stored mel filters with the ones the pipeline computes; warn if they differ."""
    stored = stft_state.get("mel_basis")
    if stored is None:
        return None
    cfg = pipeline.config
    ours = _mel_basis(
        pipeline.sampling_rate, cfg.mel_n_fft, pipeline.num_mel_bins, cfg.mel_fmin, cfg.mel_fmax
    )
    if stored.shape != ours.shape:
        raise ValueError(
            f"{STFT_WEIGHTS}: mel_basis has shape {tuple(stored.shape)}, expected {tuple(ours.shape)}"
        )
    diff = float((stored.float() - ours).abs().max())
    if diff > MEL_BASIS_TOLERANCE:
        logger.warning(
            "%s: stored mel filters differ from the computed ones by up to %.3g", STFT_WEIGHTS, diff
        )
    return diff


def resolve_checkpoint_dir(name_or_path: str | os.PathLike) -> Path:
    """A local TANGO folder as is, or a Hub repo id (e.g. ``declare-lab/tango``) downloaded —
    configs and weights only."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(name_or_path), allow_patterns=["*.json", "*.bin"]))


def convert_tango_to_diffusers(
    checkpoint: str | os.PathLike,
    output_dir: str | os.PathLike,
    **kwargs: Any,
) -> ConversionReport:
    """Convert a TANGO checkpoint (folder or Hub id) and save a TangoPipeline folder (safetensors,
    loadable with or without remote code)."""
    pipeline, report = convert_tango_checkpoint(resolve_checkpoint_dir(checkpoint), **kwargs)
    pipeline.save_pretrained(output_dir)
    return report
