"""Training inputs: which rows train, how they are encoded (once, or every step), how batches form.

Only the denoiser trains, so a caption's conditioning and a clip's latent posterior never change:
with ``cache_latents`` they are computed once before training (docs/architecture.md, "Data flow").
Both paths go through the same :class:`FeatureEncoder` (the family's adapter), and the posterior is
sampled at every step in either case, so cached and uncached training see the same numbers.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from tqdm.auto import tqdm

from baton_tta.data.audio import AudioDecodeError, decode_audio
from baton_tta.data.loading import SOURCE_ROW
from baton_tta.data.schema import (
    ROLE_HUMAN,
    ROLE_REWARD_MODEL,
    ROLE_UNSCORED,
    PreferenceDataError,
    log_excluded,
    rows_by_role,
)
from baton_tta.families import AudioFamily
from baton_tta.families.base import stack_waves

logger = logging.getLogger(__name__)

#: the keys of a batch part the uncached collator leaves for the training step to encode
UNENCODED_PROMPTS, UNENCODED_WAVEFORM = "prompts", "waveform"


@dataclass
class EncodedRow:
    """A caption's conditioning (the family's denoiser keywords, padding removed) and a clip's
    latent posterior (mean, std; std is zeros for a deterministic encoder)."""

    conditioning: dict[str, torch.Tensor]
    latent_mean: torch.Tensor
    latent_std: torch.Tensor


class FeatureEncoder:
    """Captions → conditioning, waveforms → latent posteriors, through the family's adapter (which
    calls the pipeline's own ``encode_prompt`` / VAE encode), at the family's rate and channels."""

    def __init__(self, family: AudioFamily, audio_length_s: float, prompt_column: str):
        self.family = family
        self.audio_length_s = audio_length_s
        self.prompt_column = prompt_column
        self.num_samples = family.num_samples(audio_length_s)

    @property
    def sampling_rate(self) -> int:
        return self.family.sampling_rate

    def decode(self, value, where: str = "audio") -> np.ndarray:
        """One clip at the family's rate: ``(samples,)`` mono or ``(channels, samples)``."""
        return decode_audio(value, self.family.sampling_rate, where=where, channels=self.family.channels)

    @torch.no_grad()
    def encode(self, prompts: list[str], waves: list[np.ndarray]) -> list[EncodedRow]:
        family = self.family
        conditioning = family.encode_conditioning(list(prompts), self.audio_length_s)
        mean, std = self._posterior(stack_waves(waves, self.num_samples, family.channels))
        return [
            EncodedRow(_row(conditioning, i, family.padded_sequences), mean[i].cpu(), std[i].cpu())
            for i in range(len(prompts))
        ]

    def clips(self, rows: list[dict], audio_column: str) -> dict:
        """Dataset rows as the uncached path's batch part: their captions and their clips decoded and
        stacked on the host (no model runs here: a collator in a forked worker never touches the
        device, and the one waveform tensor goes over in a single pinned, non-blocking copy)."""
        waves = [self.decode(row[audio_column]) for row in rows]
        return {
            UNENCODED_PROMPTS: [row[self.prompt_column] for row in rows],
            UNENCODED_WAVEFORM: stack_waves(waves, self.num_samples, self.family.channels),
        }

    @torch.no_grad()
    def encode_batch(self, prompts: list[str], waveform: torch.Tensor) -> dict:
        """Captions and a waveform batch already on the training device → the batch part the cached
        path stacks (conditioning, latent mean, latent std), without a copy to the host: padded
        positions are zeroed where the cache cuts them (the mask hides both from attention)."""
        conditioning = self.family.encode_conditioning(list(prompts), self.audio_length_s)
        for key, mask_key in self.family.padded_sequences.items():
            real = conditioning[mask_key].bool().reshape(*conditioning[mask_key].shape, 1)
            conditioning[key] = conditioning[key] * real.to(conditioning[key].dtype)
        mean, std = self._posterior(waveform)
        return {"conditioning": conditioning, "latent_mean": mean, "latent_std": std}

    def _posterior(self, waveform: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's latent mean and std, contiguous: a VAE's are views into one moments tensor, and
        ``randn_like`` follows a view's strides, so the posterior draw would depend on which path
        (cached rows, a batch encoded in the step) produced them."""
        mean, std = self.family.encode_audio(waveform)
        return mean.contiguous(), std.contiguous()

    def encode_unencoded(self, batch: dict) -> dict:
        """``batch`` with every part the uncached collator left as captions and clips encoded on
        their device (:meth:`encode_batch`); cached parts pass through."""
        return {
            key: self.encode_batch(value[UNENCODED_PROMPTS], value[UNENCODED_WAVEFORM])
            if isinstance(value, dict) and UNENCODED_WAVEFORM in value
            else value
            for key, value in batch.items()
        }


def _row(conditioning: dict[str, torch.Tensor], i: int, padded: dict[str, str]) -> dict[str, torch.Tensor]:
    """Row ``i`` of a conditioning batch, with padded sequences cut to their real tokens."""
    row = {key: value[i] for key, value in conditioning.items()}
    for key, mask_key in padded.items():
        real = row[mask_key].bool()
        row[key], row[mask_key] = row[key][real], row[mask_key][real]
    return {key: value.cpu() for key, value in row.items()}


def scan_clips(
    dataset: Dataset,
    column: str,
    encoder: FeatureEncoder,
    tolerance_s: float,
    source: str,
    batch_size: int,
    encode: bool,
) -> list[EncodedRow] | None:
    """One pass over a clip column that decodes every clip once: each is checked (unreadable, empty,
    NaN, silent — by :func:`decode_audio`) and measured against the training length, and, with
    ``encode``, turned into its cached features on the spot. All problems are reported together,
    by row and column, before any training step."""
    rate = encoder.sampling_rate
    problems: list[str] = []
    encoded: list[EncodedRow] = []
    padded: list[float] = []
    cut: list[float] = []
    rows = dataset[SOURCE_ROW] if SOURCE_ROW in dataset.column_names else list(range(len(dataset)))
    for start in tqdm(range(0, len(dataset), batch_size), desc=f"{source}: {column}", unit="batch"):
        batch = dataset[start : start + batch_size]
        waves = []
        for index, value in zip(rows[start : start + batch_size], batch[column]):
            where = f"row {index}, column '{column}'"
            try:
                wave = encoder.decode(value, where=where)
            except AudioDecodeError as error:
                problems.append(str(error))
                continue
            seconds = wave.shape[-1] / rate
            if abs(seconds - encoder.audio_length_s) > tolerance_s:
                problems.append(
                    f"{where}: clip is {seconds:.2f} s, training length is {encoder.audio_length_s:g} s "
                    f"(± {tolerance_s:g} s; set audio_length_s / audio_length_tolerance_s)"
                )
            elif wave.shape[-1] != round(encoder.audio_length_s * rate):
                (padded if seconds < encoder.audio_length_s else cut).append(seconds)
            waves.append(wave)
        if encode and not problems:
            encoded.extend(encoder.encode(batch[encoder.prompt_column], waves))
    if problems:
        raise PreferenceDataError(source, problems[:50], len(problems))
    if padded or cut:
        logger.info(
            "%s, column '%s': %d clip(s) padded with silence to %g s (shortest %.3f s), %d cut (longest %.3f s)",
            source,
            column,
            len(padded),
            encoder.audio_length_s,
            min(padded, default=encoder.audio_length_s),
            len(cut),
            max(cut, default=encoder.audio_length_s),
        )
    return encoded if encode else None


def select_preference_rows(
    dataset: Dataset,
    human_to_reward_ratio: float | None,
    has_reward_model: bool,
    seed: int,
) -> tuple[Dataset, list[float], list[int]]:
    """Trainable rows of a binary preference dataset (:func:`~baton_tta.data.schema.row_role`), their
    rewards (the label for human rows, the score for reward-model rows, NaN for rows a reward model
    must still score), and the positions of those unscored rows; human : reward-model rows at the
    configured ratio. Columns have the binary schema's names. Every exclusion is counted and logged;
    unusable data is an error before training."""
    if len(dataset) == 0:
        raise ValueError("the preference dataset is empty")
    roles = rows_by_role(dataset)
    if roles[ROLE_UNSCORED] and not has_reward_model:
        raise ValueError(
            f"{len(roles[ROLE_UNSCORED])} row(s) have no label and no reward (first rows: "
            f"{roles[ROLE_UNSCORED][:10]}); pass a reward_model to score them, or drop them"
        )
    log_excluded(roles, (ROLE_HUMAN, ROLE_REWARD_MODEL, ROLE_UNSCORED), "fine-tuning")
    labels, rewards = dataset["label"], dataset["reward"]
    reward_of = {i: float(labels[i]) for i in roles[ROLE_HUMAN]}
    reward_of.update({i: float(rewards[i]) for i in roles[ROLE_REWARD_MODEL]})
    reward_of.update(dict.fromkeys(roles[ROLE_UNSCORED], math.nan))
    check_reward_range({i: r for i, r in reward_of.items() if not math.isnan(r)}, "the preference dataset")
    human, scored = _apply_ratio(
        roles[ROLE_HUMAN],
        sorted(roles[ROLE_REWARD_MODEL] + roles[ROLE_UNSCORED]),
        human_to_reward_ratio,
        seed,
    )
    keep = sorted(human + scored)
    if not keep:
        raise ValueError("no trainable rows: every row is skipped (label -1) or unusable")
    logger.info("training on %d human and %d reward-model rows", len(human), len(scored))
    kept_rewards = [reward_of[i] for i in keep]
    return dataset.select(keep), kept_rewards, [k for k, r in enumerate(kept_rewards) if math.isnan(r)]


def check_reward_range(rewards: dict[int, float], source: str) -> None:
    """Rewards are labels or reward-model probabilities: finite and in [0, 1], whatever the transform
    (``exp`` then weights by 1 to e). Anything else is an error naming the rows."""
    bad = [
        f"row {i}: {r!r}" for i, r in sorted(rewards.items()) if not (math.isfinite(r) and 0.0 <= r <= 1.0)
    ]
    if bad:
        raise ValueError(
            f"{source}: rewards must be finite numbers in [0, 1]; {len(bad)} are not ({', '.join(bad[:10])})"
        )


def _apply_ratio(
    human: list[int], scored: list[int], ratio: float | None, seed: int
) -> tuple[list[int], list[int]]:
    if ratio is None or not human or not scored:
        return human, scored
    rng = random.Random(seed)
    if len(human) > ratio * len(scored):
        kept = sorted(rng.sample(human, round(ratio * len(scored))))
        logger.info("human_to_reward_ratio=%g: using %d of %d human rows", ratio, len(kept), len(human))
        return kept, scored
    kept = sorted(rng.sample(scored, min(len(scored), round(len(human) / ratio))))
    if len(kept) < len(scored):
        logger.info(
            "human_to_reward_ratio=%g: using %d of %d reward-model rows", ratio, len(kept), len(scored)
        )
    return human, kept


class PairedIndices(torch.utils.data.Dataset):
    """Item k pairs preference row k with pretrain row ``perm[k mod M]`` (a seeded permutation), so a
    step sees both batches of Eq. 7 and the Trainer's sampler, data skipping and resume just work."""

    def __init__(self, num_rows: int, num_pretrain: int, seed: int):
        self.num_rows = num_rows
        generator = torch.Generator().manual_seed(seed)
        self.pretrain_order = (
            torch.randperm(num_pretrain, generator=generator).tolist() if num_pretrain else []
        )

    def __len__(self) -> int:
        return self.num_rows

    def __getitem__(self, k: int) -> dict[str, int]:
        pretrain = self.pretrain_order[k % len(self.pretrain_order)] if self.pretrain_order else -1
        return {"index": k, "pretrain_index": pretrain}


def _stack_padded(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack rows; rows of different lengths (unpadded captions) are zero- (or False-) padded on
    their first axis to the longest."""
    if len({t.shape for t in tensors}) == 1:
        return torch.stack(tensors)
    length = max(t.shape[0] for t in tensors)
    out = tensors[0].new_zeros((len(tensors), length, *tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, : t.shape[0]] = t
    return out


def _stack(rows: list[EncodedRow]) -> dict:
    keys = rows[0].conditioning
    return {
        "conditioning": {k: _stack_padded([row.conditioning[k] for row in rows]) for k in keys},
        "latent_mean": torch.stack([row.latent_mean for row in rows]),
        "latent_std": torch.stack([row.latent_std for row in rows]),
    }


class DiffusionCollator:
    """Builds ``{"preference": {...}, "pretrain": {...}}`` batches: cached rows stacked, or (uncached) captions
    and decoded clips that the training step encodes on its device.

    ``rewards`` are taken from the reward column (reward-model rows) or the label (human rows)."""

    def __init__(
        self,
        encoder: FeatureEncoder,
        preference: Dataset,
        rewards: list[float],
        pretrain: Dataset | None,
        cache: dict[str, list[EncodedRow]] | None,
        audio_columns: tuple[str, ...] = ("audio",),
    ):
        self.encoder = encoder
        self.preference = preference
        self.rewards = rewards
        self.pretrain = pretrain
        self.cache = cache
        self.audio_columns = audio_columns

    def _part(self, name: str, dataset: Dataset, indices: list[int], column: str) -> dict:
        """One batch part: the cached rows stacked, or (uncached) the captions and decoded clips the
        training step encodes on its device (:meth:`FeatureEncoder.encode_unencoded`)."""
        if self.cache is not None:
            return _stack([self.cache[f"{name}:{column}"][i] for i in indices])
        return self.encoder.clips([dataset[i] for i in indices], column)

    def __call__(self, items: list[dict[str, int]]) -> dict:
        indices = [item["index"] for item in items]
        batch: dict = {}
        for column in self.audio_columns:
            batch[column] = self._part("preference", self.preference, indices, column)
        batch["rewards"] = torch.tensor([self.rewards[i] for i in indices], dtype=torch.float32)
        pretrain_indices = [item["pretrain_index"] for item in items if item["pretrain_index"] >= 0]
        if self.pretrain is not None and pretrain_indices:
            batch["pretrain"] = self._part("pretrain", self.pretrain, pretrain_indices, "audio")
        return batch
