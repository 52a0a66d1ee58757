"""Prompt builder: vocabularies, phrasing, group sampling, captions, LLM path with fallbacks."""

from __future__ import annotations

import random
import re

import pytest

from baton_tta.prompts import (
    CONJUNCTIONS,
    LLMCaptionGenerator,
    TemplateCaptionGenerator,
    build_prompts,
    check_caption,
    label_phrase,
    llm_instruction,
    load_vocabulary,
    sample_label_groups,
)

LABELS = [
    "Dog",
    "Rain",
    "Car horn",
    "Male speech, man speaking",
    "Canidae, dogs, wolves",
    "Owl",
    "Thunder",
    "Baby cry, infant cry",
    "Siren",
    "Bell",
]


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("Dog", "a dog"),
        ("Owl", "an owl"),
        ("Rain", "rain"),
        ("Canidae, dogs, wolves", "dogs"),
        ("Male speech, man speaking", "a man speaking"),
        ("Baby cry, infant cry", "a baby cry"),
        ("Whispering", "whispering"),
        ("Vehicle horn, car horn, honking", "a vehicle horn"),
        ("Bird vocalization, bird call, bird song", "a bird vocalization"),
        ("Music", "music"),
    ],
)
def test_label_phrase(name, phrase):
    assert label_phrase(name) == phrase


def test_vocabulary_formats(tmp_path):
    (tmp_path / "classes.csv").write_text(
        'index,mid,display_name\n0,/m/a,"Speech"\n1,/m/b,"Dog"\n2,/m/c,"Rain"\n3,/m/d,"Dog"\n'
    )
    assert load_vocabulary(tmp_path / "classes.csv") == ["Speech", "Dog", "Rain"]
    (tmp_path / "plain.txt").write_text("# labels\nDog\n\nRain\nSiren\n")
    assert load_vocabulary(tmp_path / "plain.txt") == ["Dog", "Rain", "Siren"]
    (tmp_path / "freq.csv").write_text("label,count\nRain,50\nSpeech,10\nDog,30\n")
    assert load_vocabulary(tmp_path / "classes.csv", tmp_path / "freq.csv", top_k=2) == ["Rain", "Dog"]
    (tmp_path / "bad_freq.csv").write_text("Rain,50\nCat,3\n")
    with pytest.raises(ValueError, match="labels not in"):
        load_vocabulary(tmp_path / "classes.csv", tmp_path / "bad_freq.csv")
    (tmp_path / "nan_freq.tsv").write_text("Rain\t50\nDog\tmany\n")
    with pytest.raises(ValueError, match="line 2: count 'many'"):
        load_vocabulary(tmp_path / "classes.csv", tmp_path / "nan_freq.tsv")


def test_label_groups_have_no_repeats_and_are_seeded():
    integrity = sample_label_groups(LABELS, 2, 40, seed=1, ordered=False)
    assert len({frozenset(g) for g in integrity}) == 40
    assert all(len(set(g)) == 2 for g in integrity)
    temporal = sample_label_groups(LABELS, 3, 60, seed=1, ordered=True)
    assert len(set(temporal)) == 60 and all(len(set(g)) == 3 for g in temporal)
    assert sample_label_groups(LABELS, 3, 60, seed=1, ordered=True) == temporal
    assert sample_label_groups(LABELS, 3, 60, seed=2, ordered=True) != temporal
    with pytest.raises(ValueError, match="only 45 distinct groups"):
        sample_label_groups(LABELS, 2, 46, seed=0, ordered=False)
    with pytest.raises(ValueError, match="group_size"):
        sample_label_groups(LABELS, 1, 1, seed=0, ordered=False)


def test_build_prompts_is_deterministic_and_well_formed():
    ds = build_prompts(LABELS, num_integrity=20, num_temporal=20, seed=3)
    assert build_prompts(LABELS, 20, 20, seed=3).to_dict() == ds.to_dict()
    assert build_prompts(LABELS, 20, 20, seed=4)["prompt"] != ds["prompt"]
    assert ds.column_names == ["prompt", "events", "task", "conjunction", "caption_source"]
    assert ds["task"] == ["integrity"] * 20 + ["temporal"] * 20
    for row in ds:
        assert row["conjunction"] in CONJUNCTIONS[row["task"]]
        assert len(row["events"]) == (2 if row["task"] == "integrity" else 3)
        text = row["prompt"].lower()
        positions = []
        for event in row["events"]:
            phrase = label_phrase(event)
            assert len(re.findall(rf"\b{re.escape(phrase)}\b", text)) == 1, (event, text)
            positions.append(text.index(phrase))
        if row["task"] == "temporal":
            assert positions == sorted(positions), text  # caption order = event order
        keyword = row["conjunction"].split(" …")[0]
        assert keyword in text
    assert len(set(ds["conjunction"])) >= 4  # no single conjunction dominates


def test_llm_instruction_mentions_labels_and_conjunctions():
    text = llm_instruction(["Dog", "Rain"], "integrity")
    assert '"Dog", "Rain"' in text and '"accompanied by"' in text and "Event_1, Conjunction, Event_2" in text
    assert "in that order" in llm_instruction(["Dog", "Rain", "Bell"], "temporal")


def test_check_caption():
    assert check_caption("A dog barks while rain falls", ["Dog", "Rain"], "integrity") is None
    assert "not mentioned" in check_caption("A dog barks loudly", ["Dog", "Rain"], "integrity")
    assert "order" in check_caption(
        "Rain falls, then a dog barks, then a bell", ["Dog", "Rain", "Bell"], "temporal"
    )
    assert "words" in check_caption("dog", ["Dog"], "integrity")


def test_llm_generator_accepts_valid_answers_and_counts_fallbacks():
    answers = iter(
        [
            "Caption: A dog barks while rain falls\nextra",
            "Thunder rumbles, then an owl hoots",
            "Rain falls, then a dog barks, then a bell rings",
            "An owl hoots before thunder, then a siren wails",
        ]
    )
    generator = LLMCaptionGenerator(lambda instruction: next(answers))
    rng = random.Random(0)
    first = generator.caption(["Dog", "Rain"], "integrity", rng)
    assert (first.text, first.source, first.conjunction) == ("A dog barks while rain falls", "llm", "while")
    second = generator.caption(["Dog", "Rain"], "integrity", rng)
    assert second.source == "template_fallback" and second.conjunction in CONJUNCTIONS["integrity"]
    third = generator.caption(["Dog", "Rain", "Bell"], "temporal", rng)
    assert third.source == "template_fallback"
    fourth = generator.caption(["Owl", "Thunder", "Siren"], "temporal", rng)
    assert fourth.source == "llm"
    assert generator.fallbacks == 2
    assert "'Dog' is not mentioned" in generator.fallback_reasons[0]
    assert "not in the stated order" in generator.fallback_reasons[1]


def test_llm_generator_with_tiny_random_transformers_model(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from baton_tta.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=512,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
    )
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    generator = LLMCaptionGenerator(str(tmp_path / "llm"), max_new_tokens=8)
    ds = build_prompts(LABELS, num_integrity=2, num_temporal=2, seed=0, generator=generator)
    assert generator.fallbacks == 4  # a random model never writes a valid caption
    assert set(ds["caption_source"]) == {"template_fallback"}
    template = build_prompts(LABELS, 2, 2, seed=0, generator=TemplateCaptionGenerator())
    assert ds["events"] == template["events"]


def test_top_200_is_audiocaps_most_frequent_labels(tmp_path):
    """--top_k 200 without a frequency file ranks by the shipped AudioCaps clip counts (the paper's
    vocabulary): Speech first; Water, Rain, Vehicle, Car, Engine, Door in; the rank-200 tie between
    Dial tone and Gush (18 clips each) broken by class index."""
    import csv
    from importlib import resources

    from baton_tta.prompts.vocabulary import audiocaps_label_counts, load_vocabulary

    text = (
        resources.files("baton_tta.prompts").joinpath("data", "audiocaps_label_counts.csv").read_text("utf-8")
    )
    classes = sorted(csv.DictReader(text.splitlines()), key=lambda row: int(row["index"]))
    assert len(classes) == 527 and sum(c > 0 for c in audiocaps_label_counts().values()) == 328
    lines = ["index,mid,display_name"] + [f'{r["index"]},{r["mid"]},"{r["display_name"]}"' for r in classes]
    (tmp_path / "class_labels_indices.csv").write_text("\n".join(lines) + "\n")
    top = load_vocabulary(tmp_path / "class_labels_indices.csv", top_k=200)
    assert len(top) == 200 and top[0] == "Speech" and top[-1] == "Dial tone" and "Gush" not in top
    assert {"Water", "Rain", "Vehicle", "Car", "Engine", "Door"} <= set(top)
    assert sum(1 for label in top if audiocaps_label_counts()[label] < 18) == 0
    (tmp_path / "mine.txt").write_text("Speech\nMy own sound\n")
    with pytest.raises(ValueError, match=r"not AudioSet display names.*--frequency_file"):
        load_vocabulary(tmp_path / "mine.txt", top_k=2)
