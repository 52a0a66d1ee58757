"""Tone clips: the smallest synthetic datasets in the project's schemas, built in seconds.

Unlike the toy sound world's scenes, these clips (one decaying tone each) do not match their
captions; they exist to exercise data plumbing — loading, caching, batching, checkpointing — at
the speed a unit test needs. :func:`tone_labelled_dataset` adds a rule the tiny CLAP can learn (a
high tone is "aligned", a low one is not), so reward-model training has something to fit.
"""

from __future__ import annotations

import numpy as np
from datasets import Audio, Dataset

from baton_tta.data.audio import SAMPLING_RATE, encode_audio

_EVENTS = ["a dog barks", "rain falls", "a car horn honks", "birds chirp", "a bell rings", "wind blows"]
_CONJUNCTIONS = ["and", "while", "followed by", "then"]
_PRETRAIN_CAPTIONS = ["a man speaks", "water running", "a train passes", "people talking", "music plays"]


def tone_clip(rng: np.random.Generator, seconds: float, rate: int = SAMPLING_RATE) -> np.ndarray:
    """A decaying tone of random pitch and onset over a little noise."""
    t = np.arange(round(rate * seconds)) / rate
    onset = rng.uniform(0, seconds / 2)
    envelope = np.where(t >= onset, np.exp(-(t - onset) * rng.uniform(1, 6)), 0.0)
    tone = np.sin(2 * np.pi * rng.uniform(150, 3000) * t)
    return (0.4 * envelope * tone + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def _with_audio_feature(rows: dict[str, list]) -> Dataset:
    return Dataset.from_dict(rows).cast_column("audio", Audio(sampling_rate=SAMPLING_RATE, decode=False))


def tone_preference_dataset(
    num_rows: int = 24, seconds: float = 1.0, seed: int = 0, reward_rows: bool = True
) -> Dataset:
    """Binary preference rows: half human rows (labels 1/0) and, with ``reward_rows``, half
    reward-model rows (scores in [0, 1])."""
    rng = np.random.default_rng(seed)
    keys = ("prompt", "audio", "label", "task", "source", "reward", "generator", "seed")
    rows: dict[str, list] = {k: [] for k in keys}
    for i in range(num_rows):
        a, b = rng.choice(len(_EVENTS), 2, replace=False)
        conjunction = _CONJUNCTIONS[i % len(_CONJUNCTIONS)]
        reward_row = reward_rows and i % 2 == 1
        label = int(rng.integers(0, 2))
        rows["prompt"].append(f"{_EVENTS[a]} {conjunction} {_EVENTS[b]}")
        rows["audio"].append(encode_audio(tone_clip(rng, seconds), SAMPLING_RATE, f"{i:04d}.wav"))
        rows["label"].append(-1 if reward_row else label)
        rows["task"].append("integrity" if conjunction in ("and", "while") else "temporal")
        rows["source"].append("reward_model" if reward_row else "human")
        rows["reward"].append(float(rng.uniform()) if reward_row else float(label))
        rows["generator"].append("tones")
        rows["seed"].append(i)
    return _with_audio_feature(rows)


def tone_pretrain_dataset(num_rows: int = 12, seconds: float = 1.0, seed: int = 1) -> Dataset:
    """``prompt``/``audio`` rows standing in for AudioCaps in the β term of Eq. 7."""
    rng = np.random.default_rng(seed)
    audio = [encode_audio(tone_clip(rng, seconds), SAMPLING_RATE, f"p{i:04d}.wav") for i in range(num_rows)]
    prompts = [_PRETRAIN_CAPTIONS[i % len(_PRETRAIN_CAPTIONS)] for i in range(num_rows)]
    return _with_audio_feature({"prompt": prompts, "audio": audio})


def tone_pair_dataset(num_rows: int = 12, seconds: float = 1.0, seed: int = 2) -> Dataset:
    """``prompt``/``chosen``/``rejected`` rows of two different tone clips each (Diffusion-DPO's shape)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"prompt": [], "chosen": [], "rejected": []}
    for i in range(num_rows):
        rows["prompt"].append(_PRETRAIN_CAPTIONS[i % len(_PRETRAIN_CAPTIONS)])
        for column in ("chosen", "rejected"):
            rows[column].append(encode_audio(tone_clip(rng, seconds), SAMPLING_RATE, f"{column}{i:04d}.wav"))
    data = Dataset.from_dict(rows)
    for column in ("chosen", "rejected"):
        data = data.cast_column(column, Audio(sampling_rate=SAMPLING_RATE, decode=False))
    return data


def tone_labelled_dataset(num_rows: int = 160, clips_per_prompt: int = 4, seed: int = 0) -> Dataset:
    """Human-labelled rows with a learnable rule: "aligned" when the tone is high (3–6 kHz), "not
    aligned" when low (150–600 Hz). Prompts repeat per ``clips_per_prompt`` rows, alternating tasks,
    so prompt-level splits have something to split."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLING_RATE) / SAMPLING_RATE
    rows: dict[str, list] = {k: [] for k in ("prompt", "audio", "label", "task", "source", "annotator")}
    for i in range(num_rows):
        high = bool(rng.random() < 0.5)
        frequency = rng.uniform(3000, 6000) if high else rng.uniform(150, 600)
        noise = 0.01 * rng.standard_normal(t.shape)
        wave = (0.4 * np.sin(2 * np.pi * frequency * t) + noise).astype(np.float32)
        group = i // clips_per_prompt
        rows["prompt"].append(f"a bell rings then birds chirp {group}")
        rows["audio"].append(encode_audio(wave, SAMPLING_RATE, f"{i:04d}.wav"))
        rows["label"].append(int(high))
        rows["task"].append("integrity" if group % 2 == 0 else "temporal")
        rows["source"].append("human")
        rows["annotator"].append(f"annotator{i % 3}")
    return _with_audio_feature(rows)
