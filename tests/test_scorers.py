"""The scorer registry and the audio-language-model judge, on a tiny random Qwen2-Audio built in code
with its real processor: the question, the "yes" token, the probability against a hand softmax,
batching against one by one, and the commands that score (GRPO, label-with-reward-model, evaluate)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import soxr
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_tta.scorers import (
    SCORER_KINDS,
    ScorerKind,
    ScorerSpec,
    WeightedScorers,
    load_scorer,
    load_scorers,
    register_scorer,
)
from baton_tta.scorers.judge import AudioLanguageJudge
from baton_tta.tiny import tiny_audio_judge

CAPTIONS = ["a dog barks and a siren", "a bell rings, followed by hiss", "thunder then rain falls"]


def clips(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(8000 + 2000 * i)).astype(np.float32) for i in range(count)]


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-judge")
    model, processor = tiny_audio_judge()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_the_question_follows_the_task_and_the_answer_is_the_yes_token():
    judge = AudioLanguageJudge(*tiny_audio_judge())
    assert judge.question(CAPTIONS[0]).startswith('Are all of the sounds in "a dog barks and a siren" heard')
    assert judge.question(CAPTIONS[1]).startswith('Do the sounds in "a bell rings, followed by hiss" occur')
    assert judge.question(CAPTIONS[2]).startswith("Do the sounds")
    tokenizer = judge.processor.tokenizer
    assert judge.yes_token_id == tokenizer.convert_tokens_to_ids("yes") != tokenizer.unk_token_id
    with pytest.raises(ValueError, match="no token for the answer 'Maybe'"):
        AudioLanguageJudge(*tiny_audio_judge(), answer="Maybe")


def test_the_probability_is_a_softmax_over_the_next_token_logits():
    judge = AudioLanguageJudge(*tiny_audio_judge())
    audios = clips(3)
    scores = judge.score(CAPTIONS, audios, 16000)
    inputs = judge.inputs(CAPTIONS, audios, 16000)
    # the chat template put the question after the clip's audio tokens, and the batch is left-padded
    text = judge.processor.tokenizer.decode(inputs["input_ids"][1])
    assert "<|AUDIO|>" in text and text.rstrip().endswith("assistant")
    with torch.no_grad():
        logits = judge.model(**inputs).logits[:, -1, :].double()
    by_hand = logits.exp()[:, judge.yes_token_id] / logits.exp().sum(-1)
    assert scores == pytest.approx(by_hand.tolist(), rel=1e-5)
    assert all(0 < s < 1 for s in scores)


def test_batches_give_the_scores_of_one_clip_at_a_time_and_resampling_is_the_processors_rate():
    model, processor = tiny_audio_judge()
    batched = AudioLanguageJudge(model, processor, batch_size=8)
    single = AudioLanguageJudge(model, processor, batch_size=1)
    audios = clips(3, seed=1)
    assert batched.score(CAPTIONS, audios, 16000) == pytest.approx(
        single.score(CAPTIONS, audios, 16000), abs=1e-6
    )
    at_32k = [np.repeat(a, 2) for a in audios]  # the same clips at twice the rate
    assert batched.score(CAPTIONS, at_32k, 32000) == pytest.approx(
        batched.score(CAPTIONS, audios, 16000), abs=2e-3
    )
    with pytest.raises(ValueError, match="3 prompts but 2 clips"):
        batched.score(CAPTIONS, audios[:2], 16000)


def test_the_judge_loads_as_the_class_its_config_names_and_scores_the_same(judge_dir):
    loaded = load_scorer(f"judge:{judge_dir}")
    fresh = AudioLanguageJudge(*tiny_audio_judge())
    assert loaded.score(CAPTIONS, clips(3), 16000) == pytest.approx(
        fresh.score(CAPTIONS, clips(3), 16000), abs=1e-6
    )
    described = loaded.describe()
    assert described["scorer"] == "judge" and described["checkpoint"] == str(judge_dir)
    assert described["model_class"] == "Qwen2AudioForConditionalGeneration"
    assert described["answer_token_id"] == fresh.yes_token_id and described["sampling_rate"] == 16000


def test_the_registry_names_kinds_sums_weights_and_refuses_what_it_does_not_know(judge_dir):
    assert {"reward-model", "clap", "judge", "aesthetics"} <= set(SCORER_KINDS)
    with pytest.raises(ValueError, match="unknown scorer kind 'vibes'; registered: aesthetics, clap"):
        ScorerSpec.parse("vibes:model")
    with pytest.raises(ValueError, match="judge needs a source, as judge:PATH_OR_ID"):
        ScorerSpec.parse("judge:")
    with pytest.raises(ValueError, match="already registered"):
        register_scorer(ScorerKind("judge", lambda source: None, "again"))
    import baton_tta.toy.online  # noqa: F401  (the toy world registers its oracle)

    assert str(ScorerSpec.parse("toy-oracle")) == "toy-oracle"
    judge = load_scorer(f"judge:{judge_dir}")
    mixed = load_scorers([f"judge:{judge_dir}", f"judge:{judge_dir}"], [0.25, 2.0])
    alone = np.array(judge.score(CAPTIONS, clips(3), 16000))
    assert mixed.score(CAPTIONS, clips(3), 16000) == pytest.approx(
        list(alone), rel=1e-6
    )  # their weighted mean
    assert [d["weight"] for d in mixed.describe()] == [0.25, 2.0]
    with pytest.raises(ValueError, match="1 weights for 2 scorers"):
        WeightedScorers(mixed.scorers, [1.0])


def test_the_toy_oracle_scorer_hears_rendered_clips_of_known_truth():
    from baton_tta.toy.datasets import toy_prompt_pool
    from baton_tta.toy.synth import render_scene, scene_for_caption

    def render(events, seed):
        return render_scene(scene_for_caption(list(events), "integrity", np.random.default_rng(seed)), seed)

    from baton_tta.scripts.builtin import named_scorer

    oracle = named_scorer("toy-oracle")
    pool = toy_prompt_pool("integrity", (2,), seed=0).select(range(3))
    rendered = [render(events, i) for i, events in enumerate(pool["events"])]
    wrong = [render(pool["events"][(i + 1) % 3], i) for i in range(3)]
    assert oracle.score(list(pool["prompt"]), rendered, 16000) == [1.0, 1.0, 1.0]
    assert oracle.score(list(pool["prompt"]), wrong, 16000) == [0.0, 0.0, 0.0]
    # 48 kHz stereo (it always failed: "hears 16000 Hz clips, got 48000"): the same verdicts
    stereo_48k = [np.stack([soxr.resample(w, 16000, 48000)] * 2, 1) for w in rendered + wrong]
    assert oracle.score(list(pool["prompt"]) * 2, stereo_48k, 48000) == [1.0] * 3 + [0.0] * 3


def test_the_clap_scorer_is_each_pairs_cosine_mapped_into_0_1():
    from baton_tta.clap import ClapEmbedder
    from baton_tta.scorers.kinds import ClapScorer
    from baton_tta.tiny import tiny_clap, tiny_tokenizer

    model, extractor = tiny_clap()
    embedder = ClapEmbedder(model, tiny_tokenizer(), extractor)
    scores = ClapScorer(embedder).score(CAPTIONS, clips(3), 16000)
    texts, audios = embedder.embed_texts(CAPTIONS), embedder.embed_audios(clips(3), 16000)
    for k in range(3):
        cosine = texts[k] @ audios[k] / np.linalg.norm(texts[k]) / np.linalg.norm(audios[k])
        assert scores[k] == pytest.approx((float(cosine) + 1) / 2, rel=1e-5)
    assert all(0 <= s <= 1 for s in scores)


def test_aesthetics_reads_its_axis_from_the_predictors_rows():
    from baton_tta.scorers.kinds import AudioboxAesthetics

    class Predictor:  # the package's AesPredictor.forward contract: a dict per clip, one value per axis
        def forward(self, batch):
            self.batch = batch
            return [{"CE": 1.0, "CU": 2.0, "PC": 3.0, "PQ": len(item["path"][0]) / 1000} for item in batch]

    predictor = Predictor()
    scorer = AudioboxAesthetics("PQ", predictor)
    # the axes' 1-10 rating, as (rating - 1) / 9 clipped to [0, 1]: 8 -> 7/9, 10 -> 1, 12 -> 1
    assert scorer.score(CAPTIONS[:3], clips(3), 16000) == pytest.approx([7 / 9, 1.0, 1.0])
    assert predictor.batch[0]["sample_rate"] == 16000 and predictor.batch[0]["path"].shape == (1, 8000)
    with pytest.raises(ValueError, match="aesthetics axis 'XX': one of CE, CU, PC, PQ"):
        AudioboxAesthetics("XX", predictor)


# ----------------------------------------------------------------------------- the commands that score
def test_train_grpo_takes_a_judge_from_the_registry_and_records_it(tmp_path, judge_dir):
    from datasets import Dataset

    from baton_tta.scripts import train_grpo

    prompts = tmp_path / "prompts"
    Dataset.from_dict({"prompt": ["a dog barks and a siren", "a bell rings, followed by hiss"]}).save_to_disk(
        str(prompts)
    )
    out = tmp_path / "grpo"
    train_grpo.main(
        [
            "--pipeline_name_or_path", "tiny-random", "--dataset_name", str(prompts),
            "--reward", f"judge:{judge_dir}", "--output_dir", str(out), "--max_steps", "1",
            "--num_generations", "2", "--num_inference_steps", "2", "--per_device_train_batch_size", "2",
            "--audio_length_s", "1.0", "--report_to", "none", "--save_strategy", "no",
            "--dataloader_num_workers", "0", "--dataloader_pin_memory", "false", "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    assert [(r["scorer"], r["checkpoint"], r["weight"]) for r in run["rewards"]] == [
        ("judge", str(judge_dir), 1.0)
    ]
    assert run["rewards"][0]["model_class"] == "Qwen2AudioForConditionalGeneration"
    assert f"Rewards: judge {judge_dir} (weight 1)." in (out / "README.md").read_text()
    mean = float(re.search(r"mean reward (\d\.\d+)", (out / "README.md").read_text()).group(1))
    assert 0 < mean < 1  # the judge's P(yes) of the clips it sampled


def test_label_with_reward_model_scores_with_named_scorers_and_says_which(tmp_path, judge_dir):
    from datasets import Dataset, load_from_disk

    from baton_tta.data.audio import encode_audio
    from baton_tta.data.schema import binary_features
    from baton_tta.scripts import label_with_reward_model

    audios = clips(3)
    rows = Dataset.from_dict(
        {
            "prompt": CAPTIONS,
            "audio": [encode_audio(a, 16000, f"{i}.wav") for i, a in enumerate(audios)],
            "label": [1, -1, -1],
            "task": ["integrity", "temporal", "temporal"],
            "events": [["Dog", "Siren"], ["Bell", "Hiss"], ["Thunder", "Rain"]],
            "source": ["human", "unlabelled", "unlabelled"],
            "reward": [1.0, float("nan"), float("nan")],
            "annotator": ["a", "", ""],
            "generator": ["tiny"] * 3,
            "seed": [0, 1, 2],
        }
    ).cast(binary_features())
    rows.save_to_disk(str(tmp_path / "clips"))
    out = tmp_path / "labelled"
    label_with_reward_model.main(
        ["--dataset", str(tmp_path / "clips"), "--scorers", f"judge:{judge_dir}", f"judge:{judge_dir}",
         "--scorer_weights", "0.5", "0.25", "--output_dir", str(out)]
    )  # fmt: skip
    labelled = load_from_disk(str(out / "dataset"))
    judge = AudioLanguageJudge(*tiny_audio_judge())
    expected = np.array(judge.score(CAPTIONS[1:], audios[1:], 16000))  # (0.5 s + 0.25 s) / 0.75
    assert labelled["source"] == ["human", "reward_model", "reward_model"]
    assert labelled["reward"][0] == 1.0 and labelled["reward"][1:] == pytest.approx(list(expected), abs=1e-5)
    described = json.loads((out / "scorers.json").read_text())
    assert [(d["scorer"], d["weight"]) for d in described] == [("judge", 0.5), ("judge", 0.25)]
    thresholded = tmp_path / "thresholded"
    label_with_reward_model.main(
        ["--dataset", str(tmp_path / "clips"), "--scorers", f"judge:{judge_dir}", "--output_dir", str(thresholded),
         "--label_threshold", str(float(np.median(expected)))]
    )  # fmt: skip
    automatic = load_from_disk(str(thresholded / "dataset"))
    assert automatic["label"][0] == 1  # the person's label is kept
    assert automatic["label"][1:] == [int(r >= float(np.median(expected))) for r in automatic["reward"][1:]]
    assert automatic["source"] == labelled["source"]
    with pytest.raises(ValueError, match="give --reward_model or --scorers"):
        label_with_reward_model.main(
            ["--dataset", str(tmp_path / "clips"), "--output_dir", str(tmp_path / "x")]
        )


def test_evaluate_adds_a_judge_column_and_records_its_protocol(tmp_path, judge_dir):
    import soundfile as sf
    from datasets import Dataset

    from baton_tta.scripts.evaluate import EvaluateArguments, run_evaluation

    ids = [f"cap{i}" for i in range(4)]
    Dataset.from_dict({"audiocap_id": ids, "prompt": [CAPTIONS[i % 3] for i in range(4)]}).save_to_disk(
        str(tmp_path / "eval_set")
    )
    (tmp_path / "refs").mkdir()
    for clip, audio in zip(ids, clips(4), strict=True):
        sf.write(tmp_path / "refs" / f"{clip}.wav", np.resize(audio, 16000), 16000)  # 1 s: VGGish frames
    args = EvaluateArguments(
        pipelines=["base=tiny-random"],
        eval_set=str(tmp_path / "eval_set"),
        reference_audio_dir=str(tmp_path / "refs"),
        backbones="tiny-random",
        output_dir=str(tmp_path / "out"),
        num_inference_steps=2,
        audio_length_in_s=1.0,
        scorers=[f"judge:{judge_dir}"],
    )
    results = run_evaluation(args)
    column = f"judge:{judge_dir}"
    from baton_tta.metrics.evaluation import generate_eval_clips
    from baton_tta.scripts.builtin import resolve_pipeline

    prompts = [CAPTIONS[i % 3] for i in range(4)]
    generated = generate_eval_clips(  # the clips evaluate made, from its cache
        resolve_pipeline("tiny-random"), "base", ids, prompts, tmp_path / "out" / "clips", 0, 1.0, 2, 3.0
    )
    judge = AudioLanguageJudge(*tiny_audio_judge())
    assert results["base"][column] == pytest.approx(
        float(np.mean(judge.score(prompts, generated, 16000))), abs=1e-5
    )
    assert isinstance(results["base"]["KAD"], float)
    table = (tmp_path / "out" / "results.md").read_text()
    assert table.startswith(f"| Model | FD ↓ | FAD ↓ | KAD ↓ | IS ↑ | KL ↓ | CLAP ↑ | {column} ↑ |")
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["metrics"]["FAD"]["embeddings"].startswith("VGGish")
    assert report["metrics"]["KAD"]["checkpoint"] == "tiny-random"
    assert report["caption_set"]["captions"] == 4 and len(report["caption_set"]["sha256"]) == 64
    assert report["sampling_rates"]["generated and reference clips"] == 16000
    assert report["scorers"][0]["scorer"] == "judge" and report["scorers"][0]["checkpoint"] == str(judge_dir)


def test_online_rounds_take_a_registry_judge_and_can_watch_it(tmp_path, monkeypatch):
    from baton_tta.scripts import train_online
    from test_online import TINY

    for variable, value in (("OMP_NUM_THREADS", "1"), ("TQDM_DISABLE", "1")):
        monkeypatch.setenv(variable, value)
    output = tmp_path / "run"
    train_online.main(
        [*TINY, "--num_rounds", "1", "--judge_scorers", "judge:tiny-random", "--judge_metric", "judge:tiny-random",
         "--output_dir", str(output)]
    )  # fmt: skip
    summary = json.loads((output / "summary.json").read_text())
    judged = [round_["judge:tiny-random"] for round_ in summary["rounds"]]
    assert len(judged) == 2 and all(0 < value < 1 for value in judged)  # round 0 (the base) and round 1


class _Constant:
    def __init__(self, value: float):
        self.value = value

    def score(self, prompts, audios, sampling_rate):
        return [self.value] * len(audios)


@pytest.mark.parametrize(
    ("weights", "expected"), [([2.0, 2.0], 0.7), ([1.0, 0.0], 0.9), ([1.0, 3.0], 0.6), (None, 0.7)]
)
def test_weighted_scores_are_the_weighted_mean_and_stay_in_range(weights, expected):
    """Found by the trust probe: weights 2 and 2 wrote 1.92 and -1 wrote -0.48, rewards the loader then
    refused. The weighted mean of scores in [0, 1] stays in [0, 1]; weights that cannot give a mean
    (negative, non-finite, all zero) are refused."""
    scorers = [_Constant(0.9), _Constant(0.5)]
    assert WeightedScorers(scorers, weights).score(["a"] * 3, [np.zeros(4)] * 3, 16000) == pytest.approx(
        [expected] * 3
    )
    for bad in ([-1.0, 1.0], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0]):
        with pytest.raises(ValueError, match=r"scorer weights must be finite, ≥ 0 and not all 0"):
            WeightedScorers(scorers, bad)


# ----------------------------------------------------------------------------- clips as each scorer hears them
class Hearing:
    """A scorer that records what it was handed and scores each clip by its length in seconds / 10."""

    def __init__(self, sampling_rate: int | None):
        if sampling_rate:
            self.sampling_rate = sampling_rate
        self.heard: list[tuple[tuple[int, ...], int]] = []

    def score(self, prompts, audios, sampling_rate):
        self.heard += [(np.asarray(a).shape, sampling_rate) for a in audios]
        return [min(1.0, len(a) / sampling_rate / 10) for a in audios]


def _clip(rate: int, seconds: float, layout: str) -> np.ndarray:
    wave = np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate).astype(np.float32)
    return {
        "mono": wave,
        "channels first": np.stack([wave, wave]),
        "channels last": np.stack([wave, wave], 1),
    }[layout]


@given(
    rate=st.sampled_from([16000, 22050, 24000, 44100, 48000]),
    layout=st.sampled_from(["mono", "channels first", "channels last"]),
    declared=st.sampled_from([None, 16000, 48000]),
    seconds=st.sampled_from([0.25, 1.0]),
)
@settings(max_examples=40, deadline=None)
def test_every_scorer_hears_mono_clips_at_the_rate_it_declares(rate, layout, declared, seconds):
    """Found by the trust pass: online judges got the pipeline's 22,050 Hz stereo clips labelled 16 kHz,
    and the toy oracle refused every 48 kHz clip. Whatever rate and channel layout a family writes,
    :func:`~baton_tta.data.audio.score_as_heard` (the one function every command scores through) hands
    the scorer 1-D clips at its declared rate (or the clips' own, said), the same length in seconds."""
    from baton_tta.data.audio import score_as_heard

    scorer = Hearing(declared)
    scores = score_as_heard(scorer, ["a", "b"], [_clip(rate, seconds, layout)] * 2, rate)
    heard_rate = declared or rate
    assert [(len(shape), rate_heard) for shape, rate_heard in scorer.heard] == [(1, heard_rate)] * 2
    assert all(abs(shape[0] - heard_rate * seconds) <= 1 for shape, _ in scorer.heard)  # soxr's rounding
    assert scores == pytest.approx([seconds / 10] * 2, abs=1e-3)
    # the registry's wrappers and the weighted mean pass through the same function
    assert WeightedScorers([scorer]).score(["a"], [_clip(rate, seconds, layout)], rate) == pytest.approx(
        [seconds / 10], abs=1e-3
    )


def test_a_scorer_whose_scores_leave_0_1_is_refused_by_the_weighted_mean_naming_it():
    """Rewards are weighted means of scores in [0, 1]: a scorer outside it is refused, named, instead of
    writing rewards the project's own loader then refuses (a raw CLAP cosine gave -0.145)."""

    class Loud(Hearing):
        def score(self, prompts, audios, sampling_rate):
            return [2.0]

    with pytest.raises(ValueError, match=r"Loud gave 1 scores outside \[0, 1\] \(e.g. 2\)"):
        WeightedScorers([Loud(None)]).score(["a"], [_clip(16000, 1, "mono")], 16000)


def test_a_scorer_source_of_the_wrong_kind_is_named(tmp_path):
    """Found by the fourth trust pass: ``toy-oracle:something`` said "invalid literal for int()", and a
    judge whose config names ``BertModel`` failed late with an AttributeError."""
    from transformers import BertConfig

    with pytest.raises(ValueError, match="toy-oracle:something: the source is the toy world's prompt seed"):
        load_scorer("toy-oracle:something")
    BertConfig(architectures=["BertModel"]).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="names BertModel, which does not generate text"):
        load_scorer(f"judge:{tmp_path / 'bert'}")
    from baton_tta.tiny import tiny_tango_pipeline

    tiny_tango_pipeline().save_pretrained(tmp_path / "pipeline")  # a diffusers pipeline is no judge
    with pytest.raises(
        ValueError, match=r"pipeline: not a transformers model .*a judge is an audio-language model"
    ):
        load_scorer(f"judge:{tmp_path / 'pipeline'}")


def test_the_judge_refuses_a_document_for_a_caption():
    """Found by the fourth trust pass: a 100,000-character caption kept the judge busy 112 s for 3 rows
    (an eval set is not validated as preference data is: the judge holds the cap itself)."""
    judge = AudioLanguageJudge(*tiny_audio_judge())
    with pytest.raises(ValueError, match=r"caption 1 is 100,000 characters \(at most 2,000\)"):
        judge.score(["a dog", "x" * 100_000], clips(2), 16000)
