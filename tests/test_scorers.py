"""The scorer registry and the audio-language-model judge, on a tiny random Qwen2-Audio built in code
with its real processor: the question, the "yes" token, the probability against a hand softmax,
batching against one by one, and the commands that score (GRPO, label-with-reward-model, evaluate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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
    assert {"reward-model", "clap", "judge", "aesthetics", "toy-oracle"} <= set(SCORER_KINDS)
    with pytest.raises(ValueError, match="unknown scorer kind 'vibes'; registered: aesthetics, clap"):
        ScorerSpec.parse("vibes:model")
    with pytest.raises(ValueError, match="judge needs a source, as judge:PATH_OR_ID"):
        ScorerSpec.parse("judge:")
    with pytest.raises(ValueError, match="already registered"):
        register_scorer(ScorerKind("judge", lambda source: None, "again"))
    assert str(ScorerSpec.parse("toy-oracle")) == "toy-oracle"
    judge = load_scorer(f"judge:{judge_dir}")
    mixed = load_scorers([f"judge:{judge_dir}", f"judge:{judge_dir}"], [0.25, 2.0])
    alone = np.array(judge.score(CAPTIONS, clips(3), 16000))
    assert mixed.score(CAPTIONS, clips(3), 16000) == pytest.approx(list(2.25 * alone), rel=1e-6)
    assert [d["weight"] for d in mixed.describe()] == [0.25, 2.0]
    with pytest.raises(ValueError, match="1 weights for 2 scorers"):
        WeightedScorers(mixed.scorers, [1.0])


def test_the_toy_oracle_scorer_hears_rendered_clips_of_known_truth():
    from baton_tta.toy.datasets import toy_prompt_pool
    from baton_tta.toy.synth import render_scene, scene_for_caption

    def render(events, seed):
        return render_scene(scene_for_caption(list(events), "integrity", np.random.default_rng(seed)), seed)

    oracle = load_scorer("toy-oracle")
    pool = toy_prompt_pool("integrity", (2,), seed=0).select(range(3))
    rendered = [render(events, i) for i, events in enumerate(pool["events"])]
    wrong = [render(pool["events"][(i + 1) % 3], i) for i in range(3)]
    assert oracle.score(list(pool["prompt"]), rendered, 16000) == [1.0, 1.0, 1.0]
    assert oracle.score(list(pool["prompt"]), wrong, 16000) == [0.0, 0.0, 0.0]


def test_the_clap_scorer_is_each_pairs_cosine():
    from baton_tta.clap import ClapEmbedder
    from baton_tta.scorers.kinds import ClapScorer
    from baton_tta.tiny import tiny_clap, tiny_tokenizer

    model, extractor = tiny_clap()
    embedder = ClapEmbedder(model, tiny_tokenizer(), extractor)
    scores = ClapScorer(embedder).score(CAPTIONS, clips(3), 16000)
    texts, audios = embedder.embed_texts(CAPTIONS), embedder.embed_audios(clips(3), 16000)
    for k in range(3):
        cosine = texts[k] @ audios[k] / np.linalg.norm(texts[k]) / np.linalg.norm(audios[k])
        assert scores[k] == pytest.approx(float(cosine), rel=1e-5)


def test_aesthetics_reads_its_axis_from_the_predictors_rows():
    from baton_tta.scorers.kinds import AudioboxAesthetics

    class Predictor:  # the package's AesPredictor.forward contract: a dict per clip, one value per axis
        def forward(self, batch):
            self.batch = batch
            return [{"CE": 1.0, "CU": 2.0, "PC": 3.0, "PQ": float(len(item["path"][0]))} for item in batch]

    predictor = Predictor()
    scorer = AudioboxAesthetics("PQ", predictor)
    assert scorer.score(CAPTIONS[:2], clips(2), 16000) == [8000.0, 10000.0]
    assert predictor.batch[0]["sample_rate"] == 16000 and predictor.batch[0]["path"].shape == (1, 8000)
    with pytest.raises(ValueError, match="aesthetics axis 'XX': one of CE, CU, PC, PQ"):
        AudioboxAesthetics("XX", predictor)
