"""Convert a LAION-CLAP checkpoint (``630k-audioset-best.pt`` and friends) into a transformers
``ClapModel`` + ``ClapProcessor`` folder, without installing ``laion-clap``.

The official BATON code builds its reward model and CLAP score on ``laion_clap.CLAP_Module``. That
package cannot join this stack (it pins ``numpy<2``, imports an undeclared ``torchvision`` and PIL,
and downloads ``roberta-base`` and three tokenizers when imported), but its checkpoints are plain
tensors. This module reads them with ``torch.load(weights_only=True)``, renames every key to the
transformers layout (HTSAT-tiny or HTSAT-base audio tower, with or without feature fusion; RoBERTa
text tower), reads the architecture off the tensor shapes, and refuses to write anything when a key is
left over or a parameter gets no value. The few LAION tensors that have no counterpart are dropped by
name, each for a stated reason (:data:`DROPPED_PREFIXES`); the mel filter bank among them is first
checked against the one ``ClapFeatureExtractor`` uses, so the converted front end is the same one.

``benchmarks/verify_laion_clap_import.py`` proves the result against LAION-CLAP's own code.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

logger = logging.getLogger(__name__)

#: LAION-CLAP's HTSAT audio front end (its ``model_configs/HTSAT-*.json``) and the hook's defaults.
LAION_SAMPLING_RATE = 48_000
LAION_WINDOW_SIZE = 1024
LAION_HOP_SIZE = 480
LAION_FMIN = 50
LAION_FMAX = 14_000
LAION_MAX_LENGTH_S = 10
#: HTSAT facts the tensor shapes do not carry.
HTSAT_SPEC_SIZE = 256
HTSAT_PATCH_STRIDE = (4, 4)
#: RoBERTa-base facts the shapes do not carry (LAION builds its text tower from ``roberta-base``).
ROBERTA_HEAD_DIM = 64
ROBERTA_LAYER_NORM_EPS = 1e-5
MEL_FILTER_TOLERANCE = 1e-5

#: LAION tensors without a transformers counterpart, and why dropping them loses nothing.
DROPPED_PREFIXES = {
    "text_transform.": "MLP head of LAION's training loss; the embeddings do not pass through it",
    "audio_transform.": "MLP head of LAION's training loss; the embeddings do not pass through it",
    "audio_branch.spectrogram_extractor.": "STFT kernels; ClapFeatureExtractor computes the spectrogram",
    "audio_branch.logmel_extractor.": "mel filter bank; checked equal to ClapFeatureExtractor's",
    "audio_branch.tscam_conv.": "AudioSet tagging head (527 classes), after the embedding is taken",
    "audio_branch.head.": "AudioSet tagging head (527 classes), after the embedding is taken",
    "text_branch.embeddings.position_ids": "the index buffer 0..n-1, rebuilt by transformers",
}
#: Shifted-window masks are buffers LAION saves per block; transformers recomputes them.
DROPPED_SUFFIXES = {".attn_mask": "shifted-window attention mask, recomputed from the window size"}
#: transformers buffers LAION does not save; they keep the values the model is built with.
REBUILT_KEYS = ("text_model.embeddings.position_ids", "text_model.embeddings.token_type_ids")

_BLOCK_RENAMES = (
    (".norm1.", ".layernorm_before."),
    (".norm2.", ".layernorm_after."),
    (".attn.proj.", ".attention.output.dense."),
    (".attn.relative_position", ".attention.self.relative_position"),
    (".mlp.fc1.", ".intermediate.dense."),
    (".mlp.fc2.", ".output.dense."),
)
_PROJECTION = re.compile(r"^(text|audio)_projection\.(0|2)\.")


@dataclass
class LaionClapConversion:
    """What a conversion read and wrote: the architecture found, the dropped tensors, the mel check."""

    config: ClapConfig
    dropped: dict[str, str]
    mel_filter_max_abs_diff: float | None

    @property
    def architecture(self) -> str:
        audio = self.config.audio_config
        size = {96: "HTSAT-tiny", 128: "HTSAT-base"}.get(audio.patch_embeds_hidden_size, "HTSAT")
        return f"{size} depths={list(audio.depths)}{' + fusion' if audio.enable_fusion else ''}, RoBERTa text"


def read_laion_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model tensors of a LAION-CLAP ``.pt`` file: ``{"state_dict": …}`` or a bare state dict,
    with DistributedDataParallel's ``module.`` prefix removed. Files that need pickle are refused."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(
            f"{path}: not loadable with torch.load(weights_only=True), so it is not read ({error}). "
            "LAION's published checkpoints are plain tensors; re-save a trusted file's state_dict."
        ) from error
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors (or {{'state_dict': ...}})")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    found = {int(m.group(1)) for key in state if (m := re.match(pattern, key))}
    return max(found) + 1 if found else 0


def clap_config_from_laion(state: dict[str, torch.Tensor]) -> ClapConfig:
    """The ``ClapConfig`` of a LAION-CLAP state dict, read off its tensor shapes."""
    for required in ("audio_branch.patch_embed.proj.weight", "text_branch.embeddings.word_embeddings.weight"):
        if required not in state:
            raise ValueError(f"not a LAION-CLAP HTSAT + RoBERTa state dict: no {required!r}")
    audio = "audio_branch."
    num_layers = _count(state, r"audio_branch\.layers\.(\d+)\.")
    depths = [_count(state, rf"audio_branch\.layers\.{i}\.blocks\.(\d+)\.") for i in range(num_layers)]
    tables = [
        state[f"{audio}layers.{i}.blocks.0.attn.relative_position_bias_table"] for i in range(num_layers)
    ]
    window = (round(tables[0].shape[0] ** 0.5) + 1) // 2
    patch = state[f"{audio}patch_embed.proj.weight"]
    fc1 = state[f"{audio}layers.0.blocks.0.mlp.fc1.weight"]
    audio_config = {
        "patch_embeds_hidden_size": patch.shape[0],
        "patch_size": patch.shape[-1],
        "patch_stride": list(HTSAT_PATCH_STRIDE),
        "spec_size": HTSAT_SPEC_SIZE,
        "depths": depths,
        "num_attention_heads": [table.shape[1] for table in tables],
        "window_size": window,
        "mlp_ratio": fc1.shape[0] / fc1.shape[1],
        "hidden_size": state[f"{audio}norm.weight"].shape[0],
        "num_mel_bins": state[f"{audio}bn0.weight"].shape[0],
        "num_classes": state[f"{audio}tscam_conv.weight"].shape[0]
        if f"{audio}tscam_conv.weight" in state
        else 527,
        "enable_fusion": f"{audio}patch_embed.mel_conv2d.weight" in state,
        "qkv_bias": f"{audio}layers.0.blocks.0.attn.qkv.bias" in state,
        "projection_dim": state["audio_projection.0.weight"].shape[0],
    }
    words = state["text_branch.embeddings.word_embeddings.weight"]
    hidden = words.shape[1]
    if state["text_branch.embeddings.token_type_embeddings.weight"].shape[0] != 1:
        raise ValueError(
            "the text tower has token types, so it is BERT, not RoBERTa: transformers' ClapModel "
            "computes RoBERTa's positions, and only LAION's RoBERTa checkpoints are converted"
        )
    text_config = {
        "vocab_size": words.shape[0],
        "hidden_size": hidden,
        "num_hidden_layers": _count(state, r"text_branch\.encoder\.layer\.(\d+)\."),
        "num_attention_heads": hidden // ROBERTA_HEAD_DIM,
        "intermediate_size": state["text_branch.encoder.layer.0.intermediate.dense.weight"].shape[0],
        "max_position_embeddings": state["text_branch.embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": state["text_branch.embeddings.token_type_embeddings.weight"].shape[0],
        "layer_norm_eps": ROBERTA_LAYER_NORM_EPS,
        "projection_dim": state["text_projection.0.weight"].shape[0],
    }
    return ClapConfig(
        text_config=text_config, audio_config=audio_config, projection_dim=text_config["projection_dim"]
    )


def _dropped_reason(key: str) -> str | None:
    for prefix, reason in DROPPED_PREFIXES.items():
        if key.startswith(prefix):
            return reason
    for suffix, reason in DROPPED_SUFFIXES.items():
        if key.endswith(suffix):
            return reason
    return None


def rename_laion_key(key: str) -> str:
    """The transformers name of one LAION-CLAP key (``attn.qkv`` is split by :func:`convert_laion_state_dict`)."""
    if key.startswith("text_branch."):
        return "text_model." + key.removeprefix("text_branch.")
    if match := _PROJECTION.match(key):
        linear = "linear1" if match.group(2) == "0" else "linear2"
        return f"{match.group(1)}_projection.{linear}." + key[match.end() :]
    if key.startswith("audio_branch."):
        name = key.removeprefix("audio_branch.")
        name = "batch_norm." + name.removeprefix("bn0.") if name.startswith("bn0.") else name
        for old, new in _BLOCK_RENAMES:
            name = name.replace(old, new)
        return "audio_model.audio_encoder." + name
    return key


def convert_laion_state_dict(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(transformers state dict, {dropped LAION key: reason}). Fused ``qkv`` projections are split
    into query/key/value in that order, as LAION's window attention reads them."""
    converted: dict[str, torch.Tensor] = {}
    dropped: dict[str, str] = {}
    for key, tensor in state.items():
        if (reason := _dropped_reason(key)) is not None:
            dropped[key] = reason
            continue
        name = rename_laion_key(key)
        if ".attn.qkv." in name:
            base, kind = name.rsplit(".attn.qkv.", 1)
            for part, chunk in zip(("query", "key", "value"), tensor.chunk(3, dim=0), strict=True):
                converted[f"{base}.attention.self.{part}.{kind}"] = chunk.clone()
            continue
        converted[name] = tensor
    return converted, dropped


def laion_feature_extractor(enable_fusion: bool) -> ClapFeatureExtractor:
    """``ClapFeatureExtractor`` set to LAION's front end and the hook's defaults: ``fusion`` truncation
    for fused checkpoints, random 10 s crops otherwise; short clips repeat then pad."""
    return ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=LAION_SAMPLING_RATE,
        hop_length=LAION_HOP_SIZE,
        fft_window_size=LAION_WINDOW_SIZE,
        max_length_s=LAION_MAX_LENGTH_S,
        frequency_min=LAION_FMIN,
        frequency_max=LAION_FMAX,
        truncation="fusion" if enable_fusion else "rand_trunc",
        padding="repeatpad",
    )


def check_mel_filters(state: dict[str, torch.Tensor], extractor: ClapFeatureExtractor) -> float | None:
    """Max |difference| between the checkpoint's mel filter bank (``logmel_extractor.melW``) and the
    slaney filters ``ClapFeatureExtractor`` applies; an error above :data:`MEL_FILTER_TOLERANCE`."""
    laion = state.get("audio_branch.logmel_extractor.melW")
    if laion is None:
        return None
    ours = np.asarray(extractor.mel_filters_slaney, dtype=np.float64)
    if tuple(laion.shape) != ours.shape:
        raise ValueError(
            f"mel filter bank shape {tuple(laion.shape)} differs from the extractor's {ours.shape}"
        )
    difference = float(np.abs(laion.double().numpy() - ours).max())
    if difference > MEL_FILTER_TOLERANCE:
        raise ValueError(
            f"the checkpoint's mel filter bank differs from ClapFeatureExtractor's by {difference:.2e}: "
            "its front end is not LAION's HTSAT one, so the converted model would see other features"
        )
    return difference


def check_key_coverage(
    converted: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: str | os.PathLike
) -> None:
    """Every converted tensor lands on a ``ClapModel`` entry of the same shape, and every entry but
    :data:`REBUILT_KEYS` gets one; otherwise an error naming the keys (works on meta tensors too)."""
    unused = sorted(set(converted) - set(expected))
    missing = sorted(set(expected) - set(converted) - set(REBUILT_KEYS))
    wrong_shape = sorted(k for k in set(converted) & set(expected) if converted[k].shape != expected[k].shape)
    if unused or missing or wrong_shape:
        raise ValueError(
            f"{source}: LAION-CLAP keys do not map onto ClapModel: unused {unused[:8]} ({len(unused)}), "
            f"missing {missing[:8]} ({len(missing)}), wrong shape {wrong_shape[:8]} ({len(wrong_shape)})"
        )


def load_laion_clap_model(path: str | os.PathLike) -> tuple[ClapModel, LaionClapConversion]:
    """A LAION-CLAP checkpoint as a ``ClapModel`` (eval mode) and the conversion report, in memory.
    Any LAION key left unused, or model entry left without a value, is an error that names it."""
    state = read_laion_checkpoint(path)
    config = clap_config_from_laion(state)
    converted, dropped = convert_laion_state_dict(state)
    model = ClapModel(config)
    check_key_coverage(converted, model.state_dict(), path)
    model.load_state_dict(converted, strict=False)
    model.eval()
    mel_difference = check_mel_filters(state, laion_feature_extractor(config.audio_config.enable_fusion))
    report = LaionClapConversion(config=config, dropped=dropped, mel_filter_max_abs_diff=mel_difference)
    logger.info("%s: %s, %d tensors dropped by design", path, report.architecture, len(dropped))
    return model, report


def laion_clap_processor(enable_fusion: bool, tokenizer_name_or_path: str = "roberta-base") -> ClapProcessor:
    """LAION's front end (:func:`laion_feature_extractor`) with the RoBERTa tokenizer its text tower
    was trained with (``roberta-base`` from the cache or the Hub, or a local folder)."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_name_or_path)
    return ClapProcessor(feature_extractor=laion_feature_extractor(enable_fusion), tokenizer=tokenizer)


def convert_laion_clap(
    path: str | os.PathLike,
    output_dir: str | os.PathLike,
    tokenizer_name_or_path: str = "roberta-base",
) -> LaionClapConversion:
    """Write the converted ``ClapModel`` + ``ClapProcessor`` to ``output_dir`` (safetensors), ready for
    ``ClapModel.from_pretrained``, ``ClapEmbedder`` and ``BatonRewardModel.from_clap``."""
    model, report = load_laion_clap_model(path)
    processor = laion_clap_processor(report.config.audio_config.enable_fusion, tokenizer_name_or_path)
    if len(processor.tokenizer) > report.config.text_config.vocab_size:
        raise ValueError(
            f"tokenizer {tokenizer_name_or_path!r} has {len(processor.tokenizer)} tokens, the text tower "
            f"{report.config.text_config.vocab_size}: not the tokenizer the checkpoint was trained with"
        )
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    return report
