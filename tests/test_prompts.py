"""Prompt builder: vocabularies, phrasing, group sampling, captions, LLM path with fallbacks."""

from __future__ import annotations

import random
import re

import pytest

from baton_tta.prompts import (
    CONJUNCTIONS,
    PAPER_CONJUNCTIONS,
    LLMCaptionGenerator,
    TemplateCaptionGenerator,
    build_prompts,
    check_caption,
    join_events,
    label_phrase,
    llm_instruction,
    load_vocabulary,
    phrase_for,
    read_phrase_table,
    reviewed_phrases,
    sample_label_groups,
    stated_times,
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
        assert row["conjunction"] in PAPER_CONJUNCTIONS
        assert len(row["events"]) == (2 if row["task"] == "integrity" else 3)
        text = row["prompt"].lower()
        for event in row["events"]:
            phrase = phrase_for(event)
            said = [p for p in (phrase.clause, phrase.noun_phrase) if re.search(rf"\b{re.escape(p)}\b", text)]
            assert said, (event, text)
        assert check_caption(row["prompt"], row["events"], row["task"]) is None, row
        assert row["conjunction"].split(" …")[0] in text
    # the paper's one list: integrity captions may say "then", temporal ones "while"
    assert {"then", "followed by", "before", "after"} & set(ds["conjunction"][:20])
    assert len(set(ds["conjunction"])) >= 6  # no single conjunction dominates


def test_per_task_conjunctions_keep_order_words_to_temporal_captions():
    generator = TemplateCaptionGenerator(conjunctions="per_task")
    ds = build_prompts(LABELS, 30, 30, seed=0, generator=generator)
    for row in ds:
        assert row["conjunction"] in CONJUNCTIONS[row["task"]]
    with pytest.raises(ValueError, match="conjunctions must be one of"):
        TemplateCaptionGenerator(conjunctions="mine")


@pytest.mark.parametrize(
    ("conjunction", "task", "size", "caption"),
    [
        ("while", "integrity", 2, "A baby cries while waves crash onto the shore"),
        ("with", "integrity", 2, "A baby cries, with crashing waves"),
        ("in the background", "integrity", 2, "A baby cries with crashing waves in the background"),
        ("followed by", "integrity", 2, "A baby cries, followed by crashing waves"),
        ("and", "integrity", 3, "A baby cries and waves crash onto the shore and rain falls"),
        ("accompanied by", "integrity", 3, "A baby cries, accompanied by crashing waves and falling rain"),
        ("after", "temporal", 3, "After a baby cries, waves crash onto the shore, and then rain falls"),
        (
            "first … then",
            "temporal",
            3,
            "First a baby cries, then waves crash onto the shore, and finally rain falls",
        ),
        ("followed by", "temporal", 3, "A baby cries, followed by crashing waves, and then rain falls"),
        ("as", "temporal", 3, "A baby cries as waves crash onto the shore, and then rain falls"),
    ],
)
def test_join_events_forms(conjunction, task, size, caption):
    events = ["Baby cry, infant cry", "Waves, surf", "Rain"][:size]
    assert join_events([phrase_for(event) for event in events], conjunction, task) == caption
    assert check_caption(caption, events, task) is None


def _article_errors(text: str) -> list[str]:
    """'a' before a vowel sound or 'an' before a consonant sound (the few spelling exceptions
    listed)."""
    errors = []
    for article, word in re.findall(r"\b(a|an) ([a-z][a-z'-]*)", text.lower()):
        vowel_sound = word[0] in "aeiou" and not word.startswith(("uni", "use", "one", "eu"))
        vowel_sound = vowel_sound or word.startswith(("hour", "honest"))
        if (article == "an") != vowel_sound:
            errors.append(f"{article} {word}")
    return errors


def test_every_top_200_label_reads_as_grammatical_english():
    """The shipped phrase table covers BATON's vocabulary (the top 200 AudioCaps labels), and every
    template caption over it is a sentence: each event a clause with its verb (or a noun phrase in a
    noun slot), articles right, qualifiers such as "(dog)" kept, the checker agreeing, no fallback."""
    from baton_tta.prompts.vocabulary import audiocaps_label_counts

    counts = audiocaps_label_counts()
    top = sorted(counts, key=lambda label: -counts[label])[:200]
    table = reviewed_phrases()
    assert set(top) <= set(table), sorted(set(top) - set(table))
    for label in top:
        phrase = table[label]
        assert phrase.verb in phrase.clause.split(), label
        assert not _article_errors(phrase.clause) and not _article_errors(phrase.noun_phrase), label
        for qualifier in re.findall(r"\(([^)]*)\)", label):
            kept = {w[:4] for w in re.findall(r"[a-z]+", qualifier.lower()) if w not in {"with", "or", "and"}}
            said = f"{phrase.clause} {phrase.noun_phrase}".lower()
            assert any(part in said for part in kept), (label, phrase)
    generator = TemplateCaptionGenerator()
    rendered = 0
    for index, label in enumerate(top):
        partners = [top[(index + 1) % 200], top[(index + 7) % 200]]
        for conjunction in PAPER_CONJUNCTIONS:
            for task, events in (
                ("integrity", [label, partners[0]]),
                ("temporal", [partners[1], label, partners[0]]),
            ):
                caption = join_events([generator.phrase(event) for event in events], conjunction, task)
                assert not _article_errors(caption), caption
                assert "  " not in caption and " ," not in caption and caption[0].isupper(), caption
                assert check_caption(caption, events, task) is None, (caption, events)
                rendered += 1
    assert rendered == 200 * len(PAPER_CONJUNCTIONS) * 2
    assert generator.unreviewed == set()


def test_unreviewed_labels_fall_back_to_a_sentence_and_are_logged(caplog):
    generator = TemplateCaptionGenerator()
    with caplog.at_level("WARNING"):
        ds = build_prompts(["Owl", "Zither"], 1, 0, seed=0, generator=generator)
    assert generator.unreviewed == {"Owl", "Zither"}
    assert ds["prompt"][0].count("can be heard") + ds["prompt"][0].count("a zither") >= 1
    assert "2 label(s) have no reviewed phrase" in caplog.text


def test_phrase_table_errors_name_line_and_column(tmp_path):
    path = tmp_path / "phrases.csv"
    path.write_text("display_name,clause,noun_phrase,verb\nOwl,an owl hoots,a hooting owl,hoots\n")
    assert read_phrase_table(path)["Owl"].clause == "an owl hoots"
    generator = TemplateCaptionGenerator(phrases=read_phrase_table(path))
    assert generator.phrase("Owl").clause == "an owl hoots" and generator.phrase("Dog").verb == "heard"
    path.write_text("display_name,clause,noun_phrase,verb\nOwl,an owl hoots,a hooting owl,sings\n")
    with pytest.raises(ValueError, match=r"line 2, column 'verb': 'sings' is not a word"):
        read_phrase_table(path)
    path.write_text("display_name,clause,noun_phrase,verb\nOwl,,a hooting owl,hoots\n")
    with pytest.raises(ValueError, match=r"line 2, column 'clause': empty"):
        read_phrase_table(path)
    path.write_text("display_name,clause\nOwl,an owl hoots\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['noun_phrase', 'verb'\]"):
        read_phrase_table(path)


def test_llm_instruction_mentions_labels_and_conjunctions():
    text = llm_instruction(["Dog", "Rain"], "integrity")
    assert '"Dog", "Rain"' in text and '"accompanied by"' in text and '"followed by"' in text
    assert "Event_1, Conjunction, Event_2" in text
    assert "in that order" in llm_instruction(["Dog", "Rain", "Bell"], "temporal")
    assert '"then"' not in llm_instruction(["Dog", "Rain"], "integrity", CONJUNCTIONS["integrity"])


@pytest.mark.parametrize(
    ("caption", "events", "task"),
    [  # the paper's Table 2, as published, then order stated by the conjunction's meaning
        (
            "A baby cries while waves crash onto the shore.",
            ["Baby cry, infant cry", "Waves, surf"],
            "integrity",
        ),
        (
            "Dogs and wolves howl and bark, rustling leaves in the background.",
            ["Canidae, dogs, wolves", "Rustle"],
            "integrity",
        ),
        (
            "Young child crying at first, then a toilet flushes, as a woman's singing begins.",
            ["Crying, sobbing", "Toilet flush", "Female singing"],
            "temporal",
        ),
        (
            "Rain on a surface, followed by a helicopter, and then an engine starts.",
            ["Rain on surface", "Helicopter", "Engine starting"],
            "temporal",
        ),
        ("Rain falls after a dog barks", ["Dog", "Rain"], "temporal"),
        ("Before rain falls, a dog barks", ["Dog", "Rain"], "temporal"),
        ("After a dog barks, rain falls", ["Dog", "Rain"], "temporal"),
    ],
)
def test_check_caption_accepts_correct_captions(caption, events, task):
    assert check_caption(caption, events, task) is None


def test_check_caption_rejects_wrong_ones():
    assert "not mentioned" in check_caption("A dog barks loudly", ["Dog", "Rain"], "integrity")
    assert "order" in check_caption(
        "Rain falls, then a dog barks, then a bell", ["Dog", "Rain", "Bell"], "temporal"
    )
    assert "order" in check_caption("A dog barks after rain falls", ["Dog", "Rain"], "temporal")
    assert "order" in check_caption("A dog barks while rain falls", ["Dog", "Rain"], "temporal")
    assert "words" in check_caption("dog", ["Dog"], "integrity")


def test_stated_times_follow_the_conjunctions():
    steps = dict(stated_times("A dog barks, then rain falls after a bell rings while wind blows"))
    assert (steps["dog"], steps["rain"], steps["bell"], steps["wind"]) == (0, 1, 0, 0)


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
    assert second.source == "template_fallback" and second.conjunction in PAPER_CONJUNCTIONS
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
