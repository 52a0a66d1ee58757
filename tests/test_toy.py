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


def test_loop_smoke_each_stage_output(tmp_path):
    """The benchmark's stages at seconds-long sizes: what each hands to the next has the right form."""
    import json

    from baton_tta.pipelines.pipeline_tango import TangoPipeline
    from baton_tta.toy.config import CONDITIONS, ToyLoopConfig
    from baton_tta.toy.loop import ToyLoop
    from baton_tta.toy.report import ToyLoopResult, save_result
    from baton_tta.toy.vocoder import GriffinLimVocoder

    loop = ToyLoop(ToyLoopConfig.smoke(), tmp_path)
    base = loop.pretrain()
    assert isinstance(base, TangoPipeline) and isinstance(base.vocoder, GriffinLimVocoder)
    assert (tmp_path / "base" / "model_index.json").is_file()
    loop.fit_clap()
    train, held_out = loop.prompts()
    assert sorted(train["task"]) == ["integrity"] * 4 + ["temporal"] * 4
    assert not set(train["prompt"]) & set(held_out["prompt"])
    feedback = loop.feedback_data(base, train)
    validate_dataset(feedback, get_schema("binary"), "feedback")
    assert len(feedback) == 8 * 2 and set(feedback["source"]) == {"human", "unlabelled"}
    assert len(loop.truth) == len(feedback) and set(loop.truth) <= {0, 1}
    scored, accuracy = loop.reward_rows(feedback)
    assert set(scored["source"]) == {"reward_model"} and len(scored) == 8
    assert all(0.0 <= r <= 1.0 for r in scored["reward"]) and set(accuracy) == {"integrity", "temporal"}
    tuned = loop.finetune("human + reward-model rows", scored, beta=0.5)
    row = loop.judge("tuned", tuned, held_out)
    for task in ("integrity", "temporal"):
        rate, low, high = row[task]
        assert 0.0 <= low <= rate <= high <= 1.0
    assert -1.0 <= row["clap_score"] <= 1.0
    result = ToyLoopResult([row], accuracy, {"train prompts": 8}, {}, {"stage": 1.0})
    paths = save_result(result, tmp_path)
    assert json.loads(paths["json"].read_text())["rows"][0]["model"] == "tuned"
    assert "| tuned |" in paths["md"].read_text() and paths["png"].stat().st_size > 5000
    assert len(CONDITIONS) == 8 and CONDITIONS["oracle labels (upper bound)"]["rows"] == "oracle"
    oracle = loop.oracle_rows(feedback)
    assert oracle["label"] == loop.truth and set(oracle["source"]) == {"human"}
    assert oracle["reward"] == [float(t) for t in loop.truth]
    pairs, stats = loop.dpo_pairs(feedback)  # by hand: each prompt's best and worst reward-model score
    scores = loop.reward_model.score(list(feedback["prompt"]), loop.waveforms, 16000)
    expected = []
    for start in range(0, len(feedback), 2):
        first, second = scores[start], scores[start + 1]
        if abs(first - second) >= loop.config.dpo_min_margin:
            chosen, rejected = (start, start + 1) if first > second else (start + 1, start)
            expected.append((feedback[start]["prompt"], feedback["seed"][chosen], feedback["seed"][rejected]))
    assert list(zip(pairs["prompt"], pairs["chosen_seed"], pairs["rejected_seed"], strict=True)) == expected
    assert stats.pairs == len(expected) > 0 and stats.pairs + stats.below_margin == 8
    assert isinstance(loop.finetune_dpo("dpo", pairs), TangoPipeline)
    trip = loop.round_trip(base, held_out, (2,))
    assert len(trip) == 1 and trip[0]["latent_error"] >= 0.0 and 0.0 <= trip[0]["agreement"] <= 1.0


def test_whole_loop_smoke_is_deterministic_and_reports_every_part(tmp_path):
    """The smoke loop end to end, twice: the same table, every condition with its paired differences,
    the oracle condition trained on the oracle's own labels, the DPO condition, the round trip and the
    accuracy curve."""
    from dataclasses import replace

    from baton_tta.toy.config import CONDITIONS, ToyLoopConfig
    from baton_tta.toy.loop import ToyLoop

    first = ToyLoop(ToyLoopConfig.smoke(), tmp_path / "a").run()
    # the same run again, with the conditions whose clips and trainers differ most (the pretrained
    # stage 0 from scratch included: `test_loop_smoke_each_stage_output` checks each stage's form)
    again = (
        "no feedback (control)",
        "oracle labels (upper bound)",
        "Diffusion-DPO, reward-model-ranked pairs",
    )
    second = ToyLoop(replace(ToyLoopConfig.smoke(), conditions=again), tmp_path / "b").run()
    assert [r["model"] for r in first.rows] == ["base (pretrained only)", *CONDITIONS]
    repeated = {r["model"]: r for r in second.rows}
    assert set(repeated) == {"base (pretrained only)", *again}
    for a in first.rows:
        if a["model"] in repeated:
            b = repeated[a["model"]]
            assert a["aligned"] == b["aligned"] and a["clap_score"] == pytest.approx(
                b["clap_score"], abs=1e-6
            )
    assert (
        first.round_trip == second.round_trip and first.reward_accuracy_curve == second.reward_accuracy_curve
    )
    assert first.reward_model_accuracy == second.reward_model_accuracy
    assert [d["model"] for d in first.differences] == list(CONDITIONS)
    control = first.differences[0]
    assert control["integrity - control"] == (0.0, 0.0, 0.0)  # the control against itself
    assert len(first.round_trip) == 1 and len(first.reward_accuracy_curve) == 4
    assert "Paired differences" in first.markdown() and "oracle labels (upper bound)" in first.markdown()
    assert first.data_stats["DPO pairs"] + first.data_stats["DPO prompts under the margin"] <= 8


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
