"""CLAP embeddings, one way for the whole library: the reward model's frozen encoders, the CLAP
score of stage 4, and the toy world's judge all turn captions and clips into CLAP vectors here.

transformers' ``ClapModel`` returns, from ``get_text_features`` / ``get_audio_features``, an output
whose ``pooler_output`` is the L2-normalised projection LAION-CLAP calls the embedding. Audio at any
rate, mono or stereo, is mixed to mono, checked (empty, NaN and inf are errors naming the item) and
resampled to CLAP's 48 kHz before the feature extractor sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel

from baton_tta.data.audio import CLAP_SAMPLING_RATE, check_waveform, resample, to_mono


def clap_text_inputs(tokenizer: Any, prompts: Sequence[str], device: torch.device | str) -> dict:
    """Token ids and attention mask of ``prompts``, padded to the longest, on ``device``."""
    tokens = tokenizer(list(prompts), padding=True, truncation=True, return_tensors="pt")
    return {k: v.to(device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}


def clap_audio_inputs(
    feature_extractor: ClapFeatureExtractor,
    audios: Sequence[np.ndarray],
    sampling_rate: int,
    device: torch.device | str,
) -> dict:
    """Waveforms at ``sampling_rate`` → CLAP features (``input_features``, ``is_longer``) at 48 kHz."""
    waves = []
    for index, audio in enumerate(audios):
        wave = to_mono(audio)
        check_waveform(wave, where=f"audio {index}", allow_silent=True)
        waves.append(resample(wave, sampling_rate, CLAP_SAMPLING_RATE))
    features = feature_extractor(waves, sampling_rate=CLAP_SAMPLING_RATE, return_tensors="pt")
    return {k: v.to(device) for k, v in features.items() if k in ("input_features", "is_longer")}


def clap_text_embeddings(
    model: ClapModel, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """(batch, projection_dim) L2-normalised caption embeddings."""
    return model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output


def clap_audio_embeddings(
    model: ClapModel, input_features: torch.Tensor, is_longer: torch.Tensor | None = None
) -> torch.Tensor:
    """(batch, projection_dim) L2-normalised clip embeddings."""
    return model.get_audio_features(input_features=input_features, is_longer=is_longer).pooler_output


class ClapEmbedder:
    """A frozen ``ClapModel`` with its tokenizer and feature extractor: captions and clips in, numpy
    embeddings out, batched."""

    def __init__(self, model: ClapModel, tokenizer: Any, feature_extractor: ClapFeatureExtractor):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor

    @classmethod
    def from_pretrained(cls, name_or_path: str) -> ClapEmbedder:
        """A transformers CLAP checkpoint (folder or Hub id), e.g. ``laion/clap-htsat-unfused``."""
        return cls(
            ClapModel.from_pretrained(name_or_path),
            AutoTokenizer.from_pretrained(name_or_path),
            ClapFeatureExtractor.from_pretrained(name_or_path),
        )

    @torch.no_grad()
    def embed_texts(self, prompts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        device = self.model.device
        chunks = [
            clap_text_embeddings(
                self.model, **clap_text_inputs(self.tokenizer, prompts[i : i + batch_size], device)
            )
            for i in range(0, len(prompts), batch_size)
        ]
        return torch.cat(chunks).float().cpu().numpy()

    @torch.no_grad()
    def embed_audios(
        self, audios: Sequence[np.ndarray], sampling_rate: int, batch_size: int = 16
    ) -> np.ndarray:
        device = self.model.device
        chunks = [
            clap_audio_embeddings(
                self.model,
                **clap_audio_inputs(
                    self.feature_extractor, audios[i : i + batch_size], sampling_rate, device
                ),
            )
            for i in range(0, len(audios), batch_size)
        ]
        return torch.cat(chunks).float().cpu().numpy()
