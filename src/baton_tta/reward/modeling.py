"""BATON's audio reward model (paper §3.2): frozen CLAP text and audio encoders, their embeddings
concatenated, an MLP, a sigmoid; trained with BCE on aligned / not-aligned labels.

The official code's head is 1024 → 512 → ReLU → 1 on CLAP's 512-d projections; here the input width
follows the backbone (``2 × projection_dim``). ``text_backbone="t5"`` swaps the text side for a T5
encoder (mean-pooled), the paper's Table 8 ablation. Loading needs no remote code:
``BatonRewardModel.from_pretrained(dir_or_id)`` restores the head, the CLAP weights and (when saved)
the tokenizer and the feature extractor that :meth:`BatonRewardModel.score` uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoTokenizer,
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    PretrainedConfig,
    PreTrainedModel,
    T5Config,
    T5EncoderModel,
)
from transformers.utils import ModelOutput

from baton_tta.data.audio import check_waveform, resample

CLAP_SAMPLING_RATE = 48000


class BatonRewardConfig(PretrainedConfig):
    """Configuration of :class:`BatonRewardModel`.

    Args:
        clap_config (`dict`): the embedded ``ClapConfig``.
        head_hidden_sizes (`list[int]`, defaults to [512]): hidden widths of the MLP head (official: 512).
        loss (`str`, defaults to "bce"): "bce" (paper) or "mse" (Table 8 ablation), on the sigmoid output.
        text_backbone (`str`, defaults to "clap"): "clap" or "t5" (Table 8 ablation).
        t5_config (`dict`, *optional*): the T5 encoder config when ``text_backbone="t5"``.
    """

    model_type = "baton_reward"

    def __init__(
        self,
        clap_config: dict | None = None,
        head_hidden_sizes: list[int] | None = None,
        loss: str = "bce",
        text_backbone: str = "clap",
        t5_config: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {loss!r}")
        if text_backbone not in ("clap", "t5"):
            raise ValueError(f"text_backbone must be 'clap' or 't5', got {text_backbone!r}")
        if text_backbone == "t5" and t5_config is None:
            raise ValueError("text_backbone='t5' needs a t5_config")
        self.clap_config = (
            clap_config if isinstance(clap_config, dict) or clap_config is None else clap_config.to_dict()
        )
        self.clap_config = self.clap_config or ClapConfig().to_dict()
        self.head_hidden_sizes = list(head_hidden_sizes or [512])
        self.loss = loss
        self.text_backbone = text_backbone
        self.t5_config = t5_config.to_dict() if isinstance(t5_config, PretrainedConfig) else t5_config


@dataclass
class BatonRewardOutput(ModelOutput):
    """``logits`` before the sigmoid, ``rewards`` = sigmoid(logits) in [0, 1], ``loss`` with labels."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    rewards: torch.Tensor | None = None


class BatonRewardModel(PreTrainedModel):
    config_class = BatonRewardConfig
    base_model_prefix = "baton_reward"
    main_input_name = "input_features"

    def __init__(self, config: BatonRewardConfig):
        super().__init__(config)
        self.clap = ClapModel(ClapConfig(**config.clap_config))
        self.clap.requires_grad_(False)
        projection = self.clap.config.projection_dim
        text_width = projection
        self.text_encoder = None
        if config.text_backbone == "t5":
            self.text_encoder = T5EncoderModel(T5Config(**config.t5_config))
            self.text_encoder.requires_grad_(False)
            text_width = self.text_encoder.config.d_model
        layers: list[nn.Module] = []
        width = projection + text_width
        for hidden in config.head_hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)
        self.tokenizer = None
        self.feature_extractor = None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear) and any(module is m for m in self.head.modules()):
            nn.init.kaiming_uniform_(
                module.weight, a=5**0.5
            )  # torch's default Linear init, as the official head
            bound = 1 / module.in_features**0.5
            nn.init.uniform_(module.bias, -bound, bound)

    @property
    def embedding_dim(self) -> int:
        return self.head[0].in_features

    def train(self, mode: bool = True) -> BatonRewardModel:
        """Only the head trains: the frozen encoders stay in eval mode (no dropout)."""
        super().train(mode)
        self.clap.eval()
        if self.text_encoder is not None:
            self.text_encoder.eval()
        return self

    # ------------------------------------------------------------------ embeddings
    @torch.no_grad()
    def embed_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.text_encoder is not None:
            hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = (
                (attention_mask if attention_mask is not None else torch.ones_like(input_ids))
                .unsqueeze(-1)
                .to(hidden.dtype)
            )
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.clap.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output

    @torch.no_grad()
    def embed_audio(
        self, input_features: torch.Tensor, is_longer: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.clap.get_audio_features(input_features=input_features, is_longer=is_longer).pooler_output

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        is_longer: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BatonRewardOutput:
        """Score (caption, clip) pairs from model inputs or from precomputed (cached) embeddings."""
        if audio_embeds is None:
            audio_embeds = self.embed_audio(input_features, is_longer)
        if text_embeds is None:
            text_embeds = self.embed_text(input_ids, attention_mask)
        logits = self.head(
            torch.cat([audio_embeds, text_embeds], dim=-1).to(self.head[0].weight.dtype)
        ).squeeze(-1)
        rewards = torch.sigmoid(logits)
        loss = None
        if labels is not None:
            labels = labels.to(logits.dtype)
            if self.config.loss == "bce":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
            else:
                loss = nn.functional.mse_loss(rewards, labels)
        return BatonRewardOutput(loss=loss, logits=logits, rewards=rewards)

    # ------------------------------------------------------------------ convenience
    def set_processors(self, tokenizer: Any, feature_extractor: ClapFeatureExtractor) -> BatonRewardModel:
        """The tokenizer (of the text backbone) and CLAP feature extractor used by :meth:`score`."""
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        return self

    def text_inputs(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt")
        return {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}

    def audio_inputs(self, audios: list[np.ndarray], sampling_rate: int) -> dict[str, torch.Tensor]:
        """Waveforms at any rate → CLAP features at 48 kHz (resampled here)."""
        waves = []
        for index, audio in enumerate(audios):
            wave = np.asarray(audio, dtype=np.float32)
            if wave.ndim == 2:
                wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
            check_waveform(wave, where=f"audio {index}", allow_silent=True)
            waves.append(resample(wave, sampling_rate, CLAP_SAMPLING_RATE))
        features = self.feature_extractor(waves, sampling_rate=CLAP_SAMPLING_RATE, return_tensors="pt")
        return {k: v.to(self.device) for k, v in features.items() if k in ("input_features", "is_longer")}

    @torch.no_grad()
    def score(
        self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int, batch_size: int = 16
    ) -> list[float]:
        """Rewards in [0, 1] for (prompt, waveform) pairs; waveforms at ``sampling_rate``, any length."""
        if self.tokenizer is None or self.feature_extractor is None:
            raise ValueError(
                "score() needs a tokenizer and a feature extractor: call set_processors(...) or load a saved model"
            )
        if len(prompts) != len(audios):
            raise ValueError(f"{len(prompts)} prompts but {len(audios)} audios")
        self.eval()
        out: list[float] = []
        for start in range(0, len(prompts), batch_size):
            chunk = slice(start, start + batch_size)
            result = self(
                **self.audio_inputs(list(audios[chunk]), sampling_rate),
                **self.text_inputs(list(prompts[chunk])),
            )
            out.extend(result.rewards.float().cpu().tolist())
        return out

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """Weights and config, plus the tokenizer and feature extractor so ``score`` works after loading."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)
        if self.feature_extractor is not None:
            self.feature_extractor.save_pretrained(save_directory)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any
    ) -> BatonRewardModel:
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        try:
            tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path)
            extractor = ClapFeatureExtractor.from_pretrained(pretrained_model_name_or_path)
        except (OSError, ValueError):
            return model  # saved without processors: score() will say what is missing
        return model.set_processors(tokenizer, extractor)

    @classmethod
    def from_clap(cls, clap_name_or_path: str | os.PathLike, **config_kwargs: Any) -> BatonRewardModel:
        """A reward model around a pretrained CLAP checkpoint (e.g. ``laion/clap-htsat-unfused``), with
        its tokenizer and feature extractor; the head starts untrained."""
        clap = ClapModel.from_pretrained(clap_name_or_path)
        model = cls(BatonRewardConfig(clap_config=clap.config.to_dict(), **config_kwargs))
        model.clap.load_state_dict(clap.state_dict())
        tokenizer = AutoTokenizer.from_pretrained(clap_name_or_path)
        return model.set_processors(tokenizer, ClapFeatureExtractor.from_pretrained(clap_name_or_path))
