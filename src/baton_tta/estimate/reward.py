"""Training a BATON reward model, counted on fake tensors: on the host, not a GPU.

``train-reward-model`` embeds every caption and clip once through the frozen CLAP (in batches of
:data:`~baton_tta.reward.cache.EmbeddingCache`'s size, cached on disk) and then trains the MLP head on
the cached embeddings, all on the CPU. Its memory is the process's: CLAP's weights, the highest of an
audio batch's and a caption batch's embedding pass, and the head's optimizer step. Each is the
model's own code (``embed_audio``, ``embed_text``, ``forward`` with labels) on fake weights; the clips'
CLAP features are computed for real by the CLAP feature extractor (10 s windows at 48 kHz)."""

from __future__ import annotations

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from transformers import ClapFeatureExtractor

from baton_tta.clap import clap_audio_inputs
from baton_tta.data.audio import CLAP_SAMPLING_RATE
from baton_tta.estimate.fake import StepCounter, fake_module, storage_bytes
from baton_tta.estimate.measure import MemoryEstimate, weights_by_dtype
from baton_tta.estimate.published_pipelines import published_clap_feature_extractor, reward_model_on_meta
from baton_tta.reward.modeling import BatonRewardModel

#: tokens of one caption (a 2–3-event AudioSet caption is 10–25 RoBERTa tokens): padded to this
CAPTION_TOKENS = 32


def estimate_reward_training(size: str, embedding_batch: int, head_batch: int) -> MemoryEstimate:
    """Host memory of ``train-reward-model`` with the ``size`` CLAP ("published" or "tiny"): captions and
    clips embedded ``embedding_batch`` at a time, the head trained ``head_batch`` rows at a time."""
    model = reward_model_on_meta(size)
    fake_module(model, FakeTensorMode(allow_non_fake_inputs=True))
    extractor = _feature_extractor(model)
    seconds = extractor.nb_max_samples / CLAP_SAMPLING_RATE
    clips = [np.zeros(int(seconds * CLAP_SAMPLING_RATE), np.float32)] * embedding_batch
    features = clap_audio_inputs(extractor, clips, CLAP_SAMPLING_RATE, torch.device("cpu"))
    tokens = torch.ones(embedding_batch, CAPTION_TOKENS, dtype=torch.long)
    with StepCounter() as audio:
        model.embed_audio(**features)
    with StepCounter() as text:
        model.embed_text(tokens, torch.ones_like(tokens))
    half = model.embedding_dim // 2
    rows = (torch.zeros(head_batch, half), torch.zeros(head_batch, model.embedding_dim - half))
    optimizer = torch.optim.Adam(model.head.parameters())
    with StepCounter() as head:
        loss = model(audio_embeds=rows[0], text_embeds=rows[1], labels=torch.ones(head_batch)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return MemoryEstimate(
        "reward model training (host)",
        weights=weights_by_dtype(model),
        optimizer_state=storage_bytes(optimizer.state),
        batch=storage_bytes(dict(features)),
        working_at_peak=max(audio.peak, text.peak, head.peak),
        flops=audio.flops + text.flops,
    )


def _feature_extractor(model: BatonRewardModel) -> ClapFeatureExtractor:
    """The model's own extractor (the tiny stand-in's), or the published unfused CLAP's."""
    if model.processor is not None:
        return model.processor.feature_extractor
    return published_clap_feature_extractor()
