"""Training inputs: which rows train, how they are encoded (once, or every step), how batches form.

Only the UNet trains, so a caption's T5 states and a clip's VAE posterior never change: with
``cache_latents`` they are computed once before training (design §6). Both paths go through the same
:class:`FeatureEncoder`, and the posterior is sampled at every step in either case, so cached and
uncached training see the same numbers.
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

from baton_tta.data.audio import decode_audio
from baton_tta.data.schema import PreferenceDataError
from baton_tta.pipelines.pipeline_tango import TangoPipeline

logger = logging.getLogger(__name__)


@dataclass
class EncodedRow:
    """A caption's unpadded T5 states and a clip's VAE posterior (mean, std)."""

    text: torch.Tensor
    latent_mean: torch.Tensor
    latent_std: torch.Tensor


class FeatureEncoder:
    """Captions → T5 states, clips → VAE posteriors, with the pipeline's own front end (TANGO's)."""

    def __init__(self, pipeline: TangoPipeline, audio_length_s: float, prompt_column: str, audio_column: str):
        self.pipeline = pipeline
        self.audio_length_s = audio_length_s
        self.prompt_column = prompt_column
        self.audio_column = audio_column
        self.num_frames = pipeline.num_frames_for(audio_length_s)

    @torch.no_grad()
    def encode(self, rows: list[dict], audio_column: str | None = None) -> list[EncodedRow]:
        pipe = self.pipeline
        hidden, mask = pipe.encode_text([row[self.prompt_column] for row in rows])
        column = audio_column or self.audio_column
        waves = [decode_audio(row[column], pipe.sampling_rate) for row in rows]
        num_samples = self.num_frames * pipe.hop_length
        waveform = torch.from_numpy(np.stack([_fit(w, num_samples) for w in waves])).to(pipe.vae.device)
        mel = pipe.waveform_to_mel(pipe.prepare_waveform(waveform, num_samples), num_frames=self.num_frames)
        posterior = pipe.vae.encode(mel.unsqueeze(1).to(pipe.vae.dtype)).latent_dist
        return [
            EncodedRow(hidden[i, mask[i]].cpu(), posterior.mean[i].cpu(), posterior.std[i].cpu())
            for i in range(len(rows))
        ]


def _fit(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Pad with zeros or trim, so clips stack; TANGO's normalisation runs on the stacked batch."""
    if len(wave) >= num_samples:
        return wave[:num_samples]
    return np.pad(wave, (0, num_samples - len(wave)))


def encode_all(
    encoder: FeatureEncoder, dataset: Dataset, batch_size: int, desc: str, audio_column: str | None = None
) -> list[EncodedRow]:
    """Encode every row once (the cache), batched, with a progress bar."""
    out: list[EncodedRow] = []
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, unit="batch"):
        rows = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        out.extend(encoder.encode(rows, audio_column))
    return out


def check_audio_lengths(
    dataset: Dataset, columns: list[str], audio_length_s: float, tolerance_s: float, source: str
) -> None:
    """Clips far from the training length are an error (they would be mostly padding or cut short)."""
    problems = []
    for column in columns:
        for index, value in enumerate(dataset[column]):
            seconds = len(decode_audio(value, 16000, where=f"row {index}, column '{column}'")) / 16000
            if abs(seconds - audio_length_s) > tolerance_s:
                problems.append(
                    f"row {index}, column '{column}': clip is {seconds:.2f} s, training length is {audio_length_s:g} s "
                    f"(± {tolerance_s:g} s; set audio_length_s / audio_length_tolerance_s)"
                )
    if problems:
        raise PreferenceDataError(source, problems[:50], len(problems))


def select_preference_rows(
    dataset: Dataset, args, has_reward_model: bool, seed: int
) -> tuple[Dataset, list[float]]:
    """Trainable rows of a binary preference dataset and their rewards (the label for human rows, the
    score for reward-model rows, NaN for rows a reward model must still score), human : reward-model
    rows at the configured ratio. Every exclusion is counted and logged; unusable data is an error
    before training."""
    if len(dataset) == 0:
        raise ValueError("the preference dataset is empty")
    labels = dataset[args.label_column]
    sources = (
        dataset[args.source_column] if args.source_column in dataset.column_names else ["human"] * len(labels)
    )
    rewards = (
        dataset[args.reward_column]
        if args.reward_column in dataset.column_names
        else [math.nan] * len(labels)
    )
    reward_of: dict[int, float] = {}
    human, scored, skipped = [], [], 0
    for index, (label, source, reward) in enumerate(zip(labels, sources, rewards)):
        has_reward = reward is not None and not math.isnan(reward)
        if source == "reward_model" and has_reward:
            scored.append(index)
            reward_of[index] = float(reward)
        elif label in (0, 1):
            human.append(index)
            reward_of[index] = float(label)
        elif source in ("unlabelled", "reward_model"):
            scored.append(index)
            reward_of[index] = math.nan
        else:
            skipped += 1
    unscored = [i for i in scored if math.isnan(reward_of[i])]
    if unscored and not has_reward_model:
        raise ValueError(
            f"{len(unscored)} row(s) have no label and no reward (first rows: {unscored[:10]}); "
            "pass a reward_model to score them, or drop them"
        )
    if skipped:
        logger.info("excluded %d row(s) skipped by annotators (label -1)", skipped)
    out_of_range = [i for i, r in reward_of.items() if not math.isnan(r) and not 0.0 <= r <= 1.0]
    if out_of_range and args.reward_transform == "identity":
        raise ValueError(f"rewards outside [0, 1] in rows {out_of_range[:10]} (reward_transform='identity')")
    human, scored = _apply_ratio(human, scored, args.human_to_reward_ratio, seed)
    keep = sorted(human + scored)
    if not keep:
        raise ValueError("no trainable rows: every row is skipped (label -1) or unusable")
    logger.info("training on %d human and %d reward-model rows", len(human), len(scored))
    return dataset.select(keep), [reward_of[i] for i in keep]


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


def _stack(rows: list[EncodedRow]) -> dict[str, torch.Tensor]:
    length = max(row.text.shape[0] for row in rows)
    width = rows[0].text.shape[1]
    text = torch.zeros(len(rows), length, width, dtype=rows[0].text.dtype)
    mask = torch.zeros(len(rows), length, dtype=torch.bool)
    for i, row in enumerate(rows):
        text[i, : row.text.shape[0]] = row.text
        mask[i, : row.text.shape[0]] = True
    return {
        "text": text,
        "mask": mask,
        "latent_mean": torch.stack([row.latent_mean for row in rows]),
        "latent_std": torch.stack([row.latent_std for row in rows]),
    }


class DiffusionCollator:
    """Builds ``{"preference": {...}, "pretrain": {...}}`` batches from cached or freshly encoded rows.

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

    def _rows(self, name: str, dataset: Dataset, indices: list[int], column: str) -> list[EncodedRow]:
        key = f"{name}:{column}"
        if self.cache is not None:
            return [self.cache[key][i] for i in indices]
        return self.encoder.encode([dataset[i] for i in indices], column)

    def __call__(self, items: list[dict[str, int]]) -> dict:
        indices = [item["index"] for item in items]
        batch: dict = {}
        for column in self.audio_columns:
            batch[column] = _stack(self._rows("preference", self.preference, indices, column))
        batch["rewards"] = torch.tensor([self.rewards[i] for i in indices], dtype=torch.float32)
        pretrain_indices = [item["pretrain_index"] for item in items if item["pretrain_index"] >= 0]
        if self.pretrain is not None and pretrain_indices:
            batch["pretrain"] = _stack(self._rows("pretrain", self.pretrain, pretrain_indices, "audio"))
        return batch
