"""BATON's audio reward model (paper §3.2): frozen CLAP text and audio encoders, their embeddings
concatenated, an MLP, a sigmoid; trained with BCE on aligned / not-aligned labels.

The official code's head is 1024 → 512 → ReLU → 1 on CLAP's 512-d projections; here the input width
follows the backbone (``2 × projection_dim``). ``text_backbone="t5"`` swaps the text side for a T5
encoder (mean-pooled), the paper's Table 8 ablation. Loading needs no remote code:
``BatonRewardModel.from_pretrained(dir_or_id)`` (or ``AutoModel``, once ``baton_tta.reward`` is
imported) restores the head, the CLAP weights and (when saved) the processor — tokenizer and feature
extractor — that :meth:`BatonRewardModel.score` uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    ClapConfig,
    ClapModel,
    ClapProcessor,
    PreTrainedConfig,
    PreTrainedModel,
    T5Config,
    T5EncoderModel,
)
from transformers.configuration_utils import SubConfigSpec
from transformers.utils import ModelOutput, cached_file

from baton_tta.clap import clap_audio_embeddings, clap_audio_inputs, clap_text_embeddings, clap_text_inputs
from baton_tta.convert_laion_clap import laion_clap_processor, load_laion_clap_model

#: Files a saved ``ClapProcessor`` (tokenizer + feature extractor) leaves next to the weights.
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")


class BatonRewardConfig(PreTrainedConfig):
    """Configuration of :class:`BatonRewardModel`.

    Args:
        clap_config (`ClapConfig` or `dict`): the CLAP backbone (a sub-config, saved inside this one).
        head_hidden_sizes (`list[int]`, defaults to [512]): hidden widths of the MLP head (official: 512).
        loss (`str`, defaults to "bce"): "bce" (paper) or "mse" (Table 8 ablation), on the sigmoid output.
        text_backbone (`str`, defaults to "clap"): "clap" or "t5" (Table 8 ablation).
        t5_config (`T5Config` or `dict`, *optional*): the T5 encoder when ``text_backbone="t5"``.
    """

    model_type = "baton_reward"
    sub_configs_defaults: ClassVar[dict] = {
        "clap_config": ClapConfig,
        "t5_config": SubConfigSpec(T5Config, optional=True),
    }

    clap_config: dict | PreTrainedConfig | None = None
    t5_config: dict | PreTrainedConfig | None = None
    head_hidden_sizes: list[int] | None = None
    loss: str = "bce"
    text_backbone: str = "clap"

    def __post_init__(self, **kwargs: Any) -> None:
        super().__post_init__(**kwargs)
        self.head_hidden_sizes = list(self.head_hidden_sizes or [512])
        if self.loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {self.loss!r}")
        if self.text_backbone not in ("clap", "t5"):
            raise ValueError(f"text_backbone must be 'clap' or 't5', got {self.text_backbone!r}")
        if self.text_backbone == "t5" and self.t5_config is None:
            raise ValueError("text_backbone='t5' needs a t5_config")


@dataclass
class BatonRewardOutput(ModelOutput):
    """``logits`` before the sigmoid, ``rewards`` = sigmoid(logits) in [0, 1], ``loss`` with labels."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    rewards: torch.Tensor | None = None


class BatonRewardModel(PreTrainedModel):
    """Frozen CLAP (or T5) encoders + trainable MLP head → reward in [0, 1] (paper §3.2).

    ``processor`` (a ``ClapProcessor``: the text tokenizer and CLAP's feature extractor) is saved
    beside the weights and restored by ``from_pretrained``, so :meth:`score` works after loading.
    """

    config_class = BatonRewardConfig
    base_model_prefix = "clap"
    main_input_name = "input_features"
    _no_split_modules: ClassVar[list[str]] = ["ClapTextLayer", "ClapAudioLayer", "T5Block"]

    def __init__(self, config: BatonRewardConfig):
        super().__init__(config)
        self.clap = ClapModel(config.clap_config)
        self.clap.requires_grad_(False).eval()  # frozen: no dropout, even before the first train()
        projection = self.clap.config.projection_dim
        text_width = projection
        self.text_encoder = None
        if config.text_backbone == "t5":
            self.text_encoder = T5EncoderModel(config.t5_config)
            self.text_encoder.requires_grad_(False).eval()
            text_width = self.text_encoder.config.d_model
        layers: list[nn.Module] = []
        width = projection + text_width
        for hidden in config.head_hidden_sizes or []:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.head = nn.Sequential(*layers)
        self.processor: ClapProcessor | None = None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear) and any(module is m for m in self.head.modules()):
            # torch's default Linear init, as the official head
            nn.init.kaiming_uniform_(module.weight, a=5**0.5)
            bound = 1 / module.in_features**0.5
            nn.init.uniform_(module.bias, -bound, bound)

    @property
    def embedding_dim(self) -> int:
        """Width of the head's input: audio embedding + text embedding."""
        first = self.head[0]
        assert isinstance(first, nn.Linear)
        return first.in_features

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
        if self.text_encoder is None:
            return clap_text_embeddings(self.clap, input_ids, attention_mask)
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)

    @torch.no_grad()
    def embed_audio(
        self, input_features: torch.Tensor, is_longer: torch.Tensor | None = None
    ) -> torch.Tensor:
        return clap_audio_embeddings(self.clap, input_features, is_longer)

    def forward(
        self,
        input_features: torch.Tensor | None = None,
        is_longer: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        audio_embeds: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> BatonRewardOutput:
        """Score (caption, clip) pairs from model inputs or from precomputed (cached) embeddings."""
        if audio_embeds is None:
            if input_features is None:
                raise ValueError("give input_features (CLAP features of the clips) or audio_embeds")
            audio_embeds = self.embed_audio(input_features, is_longer)
        if text_embeds is None:
            if input_ids is None:
                raise ValueError("give input_ids (tokenised captions) or text_embeds")
            text_embeds = self.embed_text(input_ids, attention_mask)
        features = torch.cat([audio_embeds, text_embeds], dim=-1).to(self.dtype)
        logits = self.head(features).squeeze(-1)
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
    def set_processor(self, processor: ClapProcessor) -> BatonRewardModel:
        """The tokenizer (of the text backbone) and CLAP feature extractor :meth:`score` uses."""
        self.processor = processor
        return self

    def _require_processor(self) -> ClapProcessor:
        if self.processor is None:
            raise ValueError(
                "this reward model has no processor (tokenizer + feature extractor): call "
                "set_processor(ClapProcessor(feature_extractor, tokenizer)) or load a folder saved with one"
            )
        return self.processor

    def text_inputs(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        return clap_text_inputs(self._require_processor().tokenizer, prompts, self.device)

    def audio_inputs(self, audios: list[np.ndarray], sampling_rate: int) -> dict[str, torch.Tensor]:
        """Waveforms at any rate → CLAP features at 48 kHz (see :func:`baton_tta.clap.clap_audio_inputs`)."""
        extractor = self._require_processor().feature_extractor
        return clap_audio_inputs(extractor, audios, sampling_rate, self.device)

    @torch.no_grad()
    def score(
        self, prompts: list[str], audios: list[np.ndarray], sampling_rate: int, batch_size: int = 16
    ) -> list[float]:
        """Rewards in [0, 1] for (prompt, waveform) pairs; waveforms at ``sampling_rate``, any length."""
        self._require_processor()
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

    def describe(self) -> dict[str, Any]:
        """What scored, for run records (the scorer registry's kind name and this model's source)."""
        return {"scorer": "reward-model", "checkpoint": self.name_or_path or None}

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """Weights and config, plus the processor so ``score`` works after loading."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.processor is not None:
            self.processor.save_pretrained(save_directory)

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any
    ) -> BatonRewardModel:
        """Load weights and, when the folder or repo has one, the processor. A processor that is there
        but fails to load is an error, not a silent ``score``-less model."""
        source = str(pretrained_model_name_or_path)
        if not Path(source).exists() and (source.startswith((".", "/", "~")) or source.count("/") > 1):
            raise FileNotFoundError(f"{source}: no such reward-model folder")
        if Path(source).is_file():
            raise ValueError(
                f"{source} is a file; a reward model is the folder train-reward-model writes (config.json, "
                "model.safetensors, the processor files) — pass that folder"
            )
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        if _has_processor(source, kwargs.get("revision"), kwargs.get("token")):
            model.set_processor(ClapProcessor.from_pretrained(source, revision=kwargs.get("revision")))
        return model

    @classmethod
    def from_clap(
        cls, clap_name_or_path: str | os.PathLike, laion_tokenizer: str = "roberta-base", **config_kwargs: Any
    ) -> BatonRewardModel:
        """A reward model around a pretrained CLAP, with its processor; the head starts untrained.

        ``clap_name_or_path`` is a transformers CLAP checkpoint (e.g. ``laion/clap-htsat-unfused``)
        or a LAION-CLAP ``.pt`` file such as the official BATON code's ``630k-audioset-best.pt``,
        converted in memory (:mod:`baton_tta.convert_laion_clap`) with ``laion_tokenizer``.
        """
        if Path(clap_name_or_path).suffix == ".pt":
            clap, report = load_laion_clap_model(clap_name_or_path)
            processor = laion_clap_processor(report.config.audio_config.enable_fusion, laion_tokenizer)
        else:
            clap = ClapModel.from_pretrained(clap_name_or_path)
            processor = ClapProcessor.from_pretrained(clap_name_or_path)
        model = cls(BatonRewardConfig(clap_config=clap.config, **config_kwargs))
        model.clap.load_state_dict(clap.state_dict())
        return model.set_processor(processor)


def _has_processor(source: str, revision: str | None, token: str | None) -> bool:
    """Whether the folder or repo holds a saved processor (found in the cache when offline)."""
    return any(
        cached_file(
            source,
            name,
            revision=revision,
            token=token,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
        for name in PROCESSOR_FILES
    )


AutoConfig.register(BatonRewardConfig.model_type, BatonRewardConfig)
AutoModel.register(BatonRewardConfig, BatonRewardModel)
