"""The toy sound world: synthesiser, oracle annotator, datasets, and a fast pass through the loop."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from baton_tta.data.schema import get_schema, validate_dataset
from baton_tta.tiny import tiny_tokenizer
from baton_tta.toy.datasets import build_toy_prompts, toy_labels, toy_preference_dataset, toy_pretrain_dataset
from baton_tta.toy.events import TOY_EVENTS, get_event
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.synth import Placement, misaligned_scene, render_scene, scene_for_caption

NAMES = [event.name for event in TOY_EVENTS]


def test_vocabulary_is_ten_distinct_events_in_disjoint_bands():
    assert len(TOY_EVENTS) == 10 and len(set(NAMES)) == 10
    bands = sorted(event.band_hz for event in TOY_EVENTS)
    assert all(low_hi[1] < next_band[0] for low_hi, next_band in itertools.pairwise(bands))
    assert get_event("Beep, bleep").name == "beep" and get_event("beep").display_name == "Beep, bleep"
    with pytest.raises(KeyError, match="unknown toy event 'dog'"):
        get_event("dog")


def test_render_is_deterministic_and_seeded():
    scene = [Placement("hum", 0.1, 0.5, 0.8), Placement("chirp", 0.4, 0.5)]
    first, again, other = (
        render_scene(scene, seed=3),
        render_scene(scene, seed=3),
        render_scene(scene, seed=4),
    )
    assert first.dtype == np.float32 and first.shape == (16000,)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert np.abs(first).max() == pytest.approx(0.9, abs=1e-6)
    with pytest.raises(ValueError, match="outside"):
        render_scene([Placement("hum", 1.2, 0.3)], seed=0)


def test_events_sound_where_they_are_placed():
    oracle = OracleAnnotator()
    for event in NAMES:
        waveform = render_scene([Placement(event, 0.55, 0.35)], seed=1)
        detected = oracle.detect(waveform)
        assert [name for name, d in detected.items() if d.present] == [event]
        assert 0.6 < detected[event].centroid_s < 0.85
        assert detected[event].active_s == pytest.approx(0.35, abs=0.08)


def test_caption_scenes_follow_the_task():
    rng = np.random.default_rng(0)
    temporal = scene_for_caption(["hum", "bell", "hiss"], "temporal", rng)
    assert [p.event for p in temporal] == ["hum", "bell", "hiss"]
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(temporal))
    together = scene_for_caption(["hum", "bell"], "integrity", rng)
    assert {p.event for p in together} == {"hum", "bell"} and all(p.end_s <= 1.0 for p in together)
    with pytest.raises(ValueError, match="task must be"):
        scene_for_caption(["hum"], "loudness", rng)


def test_oracle_accuracy_on_rendered_clips_of_known_truth():
    """The goal is ≥ 98 % with no label noise; aligned and every kind of mistake are mixed 50/50."""
    oracle = OracleAnnotator()
    rng = np.random.default_rng(2024)
    correct, total, mistakes = 0, 0, set()
    for index in range(160):
        task = "integrity" if index % 2 else "temporal"
        events = list(rng.choice(NAMES, size=2 if task == "integrity" else 3, replace=False))
        if index % 4 < 2:
            placements, truth = scene_for_caption(events, task, rng), True
        else:
            (placements, mistake), truth = misaligned_scene(events, task, rng), False
            mistakes.add(mistake)
        waveform = render_scene(placements, seed=50_000 + index)
        correct += oracle.is_aligned(events, task, waveform) == truth
        total += 1
    assert mistakes == {"drop", "replace", "reorder"}
    assert correct / total >= 0.98


def test_oracle_judges_noise_order_and_extras():
    oracle = OracleAnnotator()
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert not oracle.is_aligned(["hum", "bell"], "integrity", noise)  # everything at once is not a match
    in_order = render_scene([Placement("hum", 0.05, 0.3), Placement("bell", 0.55, 0.35)], seed=0)
    assert oracle.is_aligned(["Hum", "Bell"], "temporal", in_order)
    assert not oracle.is_aligned(["bell", "hum"], "temporal", in_order)
    assert oracle.is_aligned(["bell", "hum"], "integrity", in_order)
    extra = render_scene(
        [Placement("hum", 0.0, 0.9), Placement("bell", 0.0, 0.9), Placement("hiss", 0.2, 0.5)], 0
    )
    assert not oracle.is_aligned(["hum", "bell"], "integrity", extra)
    assert OracleAnnotator(max_extra_events=1).is_aligned(["hum", "bell"], "integrity", extra)


def test_oracle_noise_and_skip_rates():
    clip = render_scene([Placement("hum", 0.0, 0.9), Placement("bell", 0.1, 0.8)], seed=0)
    assert OracleAnnotator(noise=1.0).annotate(["hum", "bell"], "integrity", clip) == 0
    assert OracleAnnotator(skip=1.0).annotate(["hum", "bell"], "integrity", clip) == -1
    person = OracleAnnotator(noise=0.3, seed=1)
    flips = sum(person.annotate(["hum", "bell"], "integrity", clip) == 0 for _ in range(200))
    assert 35 <= flips <= 85  # 30 % of 200, within about 3 standard deviations
    with pytest.raises(ValueError, match="noise must be a probability"):
        OracleAnnotator(noise=1.5)


def test_toy_datasets_fit_the_schemas_and_the_tokenizer():
    prompts = build_toy_prompts(45, 10, seed=0)
    assert len(set(prompts.filter(lambda r: r["task"] == "integrity")["prompt"])) == 45
    tokenizer = tiny_tokenizer()
    assert all(tokenizer.unk_token_id not in tokenizer(p).input_ids for p in prompts["prompt"])
    assert set(toy_labels()) == {event.display_name for event in TOY_EVENTS}

    pretrain = toy_pretrain_dataset(6, seed=0)
    validate_dataset(pretrain, get_schema("pretrain"), "toy pretrain")
    preference = toy_preference_dataset(num_prompts=4, clips_per_prompt=3, seed=0, aligned_fraction=0.5)
    validate_dataset(preference, get_schema("binary"), "toy preference")
    assert len(preference) == 12 and set(preference["label"]) <= {0, 1}
    from baton_tta.data import decode_audio

    oracle = OracleAnnotator()
    for row in preference:
        assert row["label"] == oracle.is_aligned(
            row["events"], row["task"], decode_audio(row["audio"], 16000)
        )
    assert toy_preference_dataset(4, 3, seed=0)["label"] == preference["label"]  # seeded


def test_paired_difference_icc_and_sizing():
    from baton_tta.toy.statistics import intraclass_correlation, paired_difference, prompts_for_half_width

    a = [[True, True], [False, True], [True, True], [False, False]]
    b = [[True, False], [False, False], [True, True], [False, False]]
    diff, low, high = paired_difference(a, b, samples=2000, seed=0)
    assert diff == pytest.approx(2 / 8) and 0.0 <= low <= diff <= high
    assert paired_difference(a, a, samples=100, seed=0) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same prompts"):
        paired_difference(a, b[:3], samples=10, seed=0)
    assert intraclass_correlation([[True] * 4, [False] * 4] * 5) == pytest.approx(1.0)
    assert intraclass_correlation([[True, False]] * 6) < 0  # every prompt split evenly: negative ICC
    # independent clips: 1.96² · 0.25 / 0.05² = 384.2 clips → 97 prompts of 4; fully correlated: 385
    assert prompts_for_half_width(0.5, 0.0, 4) == 97
    assert prompts_for_half_width(0.5, 1.0, 4) == 385


def test_paired_variance_split_half_width_and_clips_needed_by_hand():
    from baton_tta.toy.statistics import clips_for_half_width, paired_half_width, paired_variance_components

    # the model changed two prompts fully and two not at all: all the variance is the prompts'
    changed = [[True, True], [True, True], [False, False], [False, False]]
    unchanged = [[False, False]] * 4
    between, within = paired_variance_components(changed, unchanged)
    assert (between, within) == (pytest.approx(1 / 3), 0.0)
    assert paired_half_width(between, within, 4, 2) == pytest.approx(1.96 * (1 / 12) ** 0.5)
    assert clips_for_half_width(between, within, 4, 0.5) is None  # no number of clips gets below ±0.566
    assert clips_for_half_width(between, within, 4, 0.6) == 2
    # clip-to-clip noise only: differences [1, 0], [0, 1], [0, 0] → within 1/3, between 0
    between, within = paired_variance_components(
        [[True, True], [False, True], [True, False]], [[False, True], [False, False], [True, False]]
    )
    assert (between, within) == (0.0, pytest.approx(1 / 3))
    assert paired_half_width(between, within, 3, math.inf) == 0.0
    # ±0.3 on 3 prompts: 4 clips give ±0.327, 5 give ±0.292
    assert clips_for_half_width(between, within, 3, 0.3) == 5
    assert paired_half_width(between, within, 3, 4) > 0.3 >= paired_half_width(between, within, 3, 5)


def test_bootstrap_interval_over_prompts():
    from baton_tta.toy.statistics import bootstrap_interval

    rate, low, high = bootstrap_interval([[True, True], [False, False], [True, False]], samples=2000, seed=0)
    assert rate == pytest.approx(0.5) and low < 0.5 < high and low >= 0.0 and high <= 1.0
    assert bootstrap_interval([[True]] * 5, samples=100, seed=0) == (1.0, 1.0, 1.0)
