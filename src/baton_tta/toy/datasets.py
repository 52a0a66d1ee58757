"""Toy-world datasets in the project's schemas: prompts, pretrain pairs, and oracle-labelled preferences.

Captions come from the real prompt builder (:func:`baton_tta.prompts.build_prompts`) over the toy
vocabulary's display names, so conjunctions, group sizes and seeding are exactly stage 1's.
"""

from __future__ import annotations

import random
from math import comb, perm

import numpy as np
from datasets import Audio, Dataset, concatenate_datasets

from baton_tta.data.audio import SAMPLING_RATE, encode_audio
from baton_tta.data.schema import binary_features
from baton_tta.prompts import EventPhrase, TemplateCaptionGenerator, build_prompts, label_phrase
from baton_tta.toy.events import toy_labels
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.synth import (
    DEFAULT_DURATION_S,
    misaligned_scene,
    random_caption_scene,
    render_scene,
    scene_for_caption,
)

TOY_GENERATOR = "toy-synthesiser"


def toy_caption_generator() -> TemplateCaptionGenerator:
    """Stage 1's template generator with the toy's phrases ("a beep sounds": words the tiny tokenizer
    knows) and per-task conjunctions: the toy oracle judges a temporal caption by the strict order
    of its events, so temporal captions must state one order and integrity captions none."""
    nouns = {name: label_phrase(name) for name in toy_labels()}
    phrases = {name: EventPhrase(f"{noun} sounds", noun, "sounds") for name, noun in nouns.items()}
    return TemplateCaptionGenerator(conjunctions="per_task", phrases=phrases)


def build_toy_prompts(num_integrity: int, num_temporal: int, seed: int = 0) -> Dataset:
    """Stage 1's prompt dataset (``prompt``, ``events``, ``task``, …) over the toy vocabulary."""
    return build_prompts(
        toy_labels(), num_integrity, num_temporal, seed=seed, generator=toy_caption_generator()
    )


def toy_prompt_pool(task: str, group_sizes: tuple[int, ...], seed: int = 0) -> Dataset:
    """Every event group of ``task`` at each of ``group_sizes`` (ordered for temporal), one caption
    each, in a seeded random order: the toy world's whole prompt space for that task."""
    parts = []
    for size in group_sizes:
        count = perm(len(toy_labels()), size) if task == "temporal" else comb(len(toy_labels()), size)
        counts = {
            "integrity": count if task == "integrity" else 0,
            "temporal": count if task == "temporal" else 0,
        }
        parts.append(
            build_prompts(
                toy_labels(),
                counts["integrity"],
                counts["temporal"],
                seed=seed + size,
                generator=toy_caption_generator(),
                group_sizes={task: size},
            )
        )
    return concatenate_datasets(parts).shuffle(seed=seed).flatten_indices()


def _audio_column(dataset: Dataset) -> Dataset:
    return dataset.cast_column("audio", Audio(sampling_rate=SAMPLING_RATE, decode=False))


def toy_pretrain_dataset(num_rows: int, seed: int = 0, duration_s: float = DEFAULT_DURATION_S) -> Dataset:
    """``prompt``/``audio`` pairs where every clip matches its caption: the toy AudioCaps, used to
    pretrain the toy model and as the β term's data. Alternating integrity and temporal captions over
    random label groups (groups repeat: the toy world has only 45 pairs), each a fresh scene."""
    rng = np.random.default_rng(seed)
    captions = random.Random(seed)
    generator = toy_caption_generator()
    prompts, audio = [], []
    for index in range(num_rows):
        task, events, placements = random_caption_scene(index, rng, duration_s)
        waveform = render_scene(placements, seed=seed * 1_000_003 + index, duration_s=duration_s)
        prompts.append(generator.caption(events, task, captions).text)
        audio.append(encode_audio(waveform, SAMPLING_RATE, f"pretrain-{index:05d}.wav"))
    return _audio_column(Dataset.from_dict({"prompt": prompts, "audio": audio}))


def toy_preference_dataset(
    num_prompts: int,
    clips_per_prompt: int = 5,
    seed: int = 0,
    aligned_fraction: float = 0.5,
    annotator: OracleAnnotator | None = None,
    duration_s: float = DEFAULT_DURATION_S,
) -> Dataset:
    """A binary preference dataset (BATON §3.1 shape: ``clips_per_prompt`` clips per caption) whose
    clips are rendered, each matching its caption with probability ``aligned_fraction`` and otherwise
    making one of the usual mistakes, then labelled by ``annotator`` (a noiseless oracle by default).

    The label comes from the oracle listening to the clip, not from how it was rendered, so a noisy
    annotator behaves as a person would."""
    annotator = annotator or OracleAnnotator(seed=seed)
    prompts = build_toy_prompts(
        num_integrity=(num_prompts + 1) // 2, num_temporal=num_prompts // 2, seed=seed
    )
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {name: [] for name in binary_features()}
    for prompt_index, row in enumerate(prompts):
        for clip in range(clips_per_prompt):
            clip_seed = seed + prompt_index * clips_per_prompt + clip
            if rng.random() < aligned_fraction:
                placements = scene_for_caption(row["events"], row["task"], rng, duration_s)
            else:
                placements, _ = misaligned_scene(row["events"], row["task"], rng, duration_s)
            waveform = render_scene(placements, seed=clip_seed, duration_s=duration_s)
            label = annotator.annotate(row["events"], row["task"], waveform)
            rows["prompt"].append(row["prompt"])
            rows["audio"].append(encode_audio(waveform, SAMPLING_RATE, f"{prompt_index:05d}-{clip}.wav"))
            rows["label"].append(label)
            rows["task"].append(row["task"])
            rows["events"].append(list(row["events"]))
            rows["source"].append("human")
            rows["reward"].append(float(label) if label >= 0 else float("nan"))
            rows["annotator"].append("oracle")
            rows["generator"].append(TOY_GENERATOR)
            rows["seed"].append(clip_seed)
    return Dataset.from_dict(rows).cast(binary_features())
