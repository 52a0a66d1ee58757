"""BatonRewardModel: shapes, frozen encoders, losses, scoring at any rate, save/load, trainer hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baton_tta.data.audio import decode_audio
from baton_tta.reward import BatonRewardConfig, BatonRewardModel
from baton_tta.tiny import tiny_reward_model
from helpers import sine

PROMPTS = ["a dog barks", "rain falls and wind blows", "a bell rings"]


def _audios():
    return [sine(16000, 1.0, 300), sine(22050, 0.4, 900), np.stack([sine(44100, 2.0, 500)] * 2, axis=1)]


def test_forward_shapes_and_rewards_in_unit_interval():
    model = tiny_reward_model()
    text = model.text_inputs(PROMPTS)
    audio = model.audio_inputs([sine(48000, 1.0)] * 3, 48000)
    out = model(**audio, **text, labels=torch.tensor([1, 0, 1]))
    assert out.logits.shape == out.rewards.shape == (3,)
    assert torch.all((out.rewards > 0) & (out.rewards < 1))
    torch.testing.assert_close(out.rewards, torch.sigmoid(out.logits))
    assert out.loss.ndim == 0 and out.loss > 0
    assert model.embedding_dim == 2 * model.clap.config.projection_dim


def test_gradients_reach_only_the_head():
    model = tiny_reward_model().train()
    out = model(
        **model.audio_inputs([sine(48000, 1.0)] * 2, 48000),
        **model.text_inputs(PROMPTS[:2]),
        labels=torch.tensor([1, 0]),
    )
    out.loss.backward()
    with_grad = {name for name, p in model.named_parameters() if p.grad is not None}
    assert with_grad and all(name.startswith("head.") for name in with_grad)
    assert not any(p.requires_grad for p in model.clap.parameters())
    assert not model.clap.training  # frozen towers stay in eval mode


def test_frozen_towers_embed_without_dropout_from_construction():
    """Stage 2 caches embeddings before its first train(): a freshly built model must already embed
    deterministically (dropout off), whatever the global random state."""
    from transformers import ClapProcessor

    from baton_tta.tiny import tiny_clap, tiny_tokenizer

    clap, extractor = tiny_clap(0)
    clap.config.text_config.hidden_dropout_prob = 0.5
    model = BatonRewardModel(BatonRewardConfig(clap_config=clap.config))
    model.set_processor(ClapProcessor(feature_extractor=extractor, tokenizer=tiny_tokenizer()))
    assert not model.clap.training
    text = model.text_inputs(PROMPTS)
    torch.manual_seed(1)
    first = model.embed_text(text["input_ids"], text["attention_mask"])
    torch.manual_seed(2)
    torch.testing.assert_close(model.embed_text(text["input_ids"], text["attention_mask"]), first)


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_losses_match_their_definition(loss):
    model = tiny_reward_model(loss=loss)
    audio_embeds, text_embeds = torch.randn(4, 32), torch.randn(4, 32)
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    out = model(audio_embeds=audio_embeds, text_embeds=text_embeds, labels=labels)
    if loss == "bce":
        expected = -(labels * torch.log(out.rewards) + (1 - labels) * torch.log(1 - out.rewards)).mean()
    else:
        expected = ((out.rewards - labels) ** 2).mean()
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)


def test_score_resamples_any_rate_and_channels():
    model = tiny_reward_model()
    scores = model.score(PROMPTS, _audios()[:1] * 3, sampling_rate=16000)
    assert len(scores) == 3 and all(0 < s < 1 for s in scores)
    mixed = [
        model.score([p], [a], sampling_rate=r)[0]
        for p, a, r in zip(PROMPTS, _audios(), (16000, 22050, 44100))
    ]
    assert all(0 < s < 1 for s in mixed)
    batched = model.score(
        PROMPTS[:2], [sine(16000, 1.0, 300), sine(16000, 1.0, 700)], sampling_rate=16000, batch_size=1
    )
    together = model.score(
        PROMPTS[:2], [sine(16000, 1.0, 300), sine(16000, 1.0, 700)], sampling_rate=16000, batch_size=2
    )
    np.testing.assert_allclose(batched, together, rtol=1e-5)
    with pytest.raises(ValueError, match="2 prompts but 1 audios"):
        model.score(PROMPTS[:2], [sine(16000)], sampling_rate=16000)
    with pytest.raises(ValueError, match="audio 0: audio has 1 NaN/inf"):
        model.score(PROMPTS[:1], [np.array([0.1, np.nan], dtype=np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match="audio 0: audio is empty"):
        model.score(PROMPTS[:1], [np.zeros(0, dtype=np.float32)], sampling_rate=16000)


def test_save_load_gives_identical_scores(tmp_path):
    model = tiny_reward_model(seed=3)
    with torch.no_grad():
        model.head[-1].bias.fill_(0.7)
    expected = model.score(PROMPTS, [sine(16000, 1.0, f) for f in (300, 600, 900)], sampling_rate=16000)
    model.save_pretrained(tmp_path / "rm")
    assert (tmp_path / "rm" / "model.safetensors").is_file() and (
        tmp_path / "rm" / "processor_config.json"
    ).is_file()
    loaded = BatonRewardModel.from_pretrained(tmp_path / "rm")
    assert isinstance(loaded.config, BatonRewardConfig) and loaded.config.head_hidden_sizes == [32]
    got = loaded.score(PROMPTS, [sine(16000, 1.0, f) for f in (300, 600, 900)], sampling_rate=16000)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_t5_text_backbone(tmp_path):
    model = tiny_reward_model(text_backbone="t5")
    assert model.embedding_dim == model.clap.config.projection_dim + model.text_encoder.config.d_model
    scores = model.score(PROMPTS, [sine(16000, 1.0)] * 3, sampling_rate=16000)
    model.save_pretrained(tmp_path / "t5rm")
    np.testing.assert_allclose(
        BatonRewardModel.from_pretrained(tmp_path / "t5rm").score(PROMPTS, [sine(16000, 1.0)] * 3, 16000),
        scores,
        rtol=1e-6,
    )


def test_config_errors():
    with pytest.raises(ValueError, match="loss must be"):
        BatonRewardConfig(loss="hinge")
    with pytest.raises(ValueError, match="needs a t5_config"):
        BatonRewardConfig(text_backbone="t5")
    with pytest.raises(ValueError, match="set_processor"):
        BatonRewardModel(
            BatonRewardConfig(clap_config=tiny_reward_model().config.clap_config, head_hidden_sizes=[8])
        ).score(["x"], [sine(16000)], 16000)


def test_trainer_loads_reward_model_by_path_and_scores_unlabelled_rows(tmp_path):
    from baton_tta.tiny import tiny_tango_pipeline
    from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
    from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer

    tiny_reward_model().save_pretrained(tmp_path / "rm")
    data = tone_preference_dataset(6, reward_rows=False)
    data = data.map(
        lambda r, i: {"label": -1, "source": "unlabelled", "reward": float("nan")} if i < 2 else {},
        with_indices=True,
    )
    args = RewardWeightedDiffusionConfig(
        output_dir=str(tmp_path / "out"),
        audio_length_s=1.0,
        max_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    trainer = RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(), args, data, tone_pretrain_dataset(4), reward_model=str(tmp_path / "rm")
    )
    assert isinstance(trainer.reward_model, BatonRewardModel)
    scored = trainer.train_rewards[:2]
    assert all(0 < r < 1 for r in scored)
    expected = trainer.reward_model.score(
        data["prompt"][:2],
        [decode_audio(a, 16000) for a in data["audio"][:2]],
        16000,
    )
    np.testing.assert_allclose(scored, expected, rtol=1e-6)


def test_transformers_conventions(tmp_path, capfd):
    """Auto classes load it; base_model_prefix names a real attribute; sub-configs are configs; the
    processor comes back; loading prints no "model of type" warning; forward takes no stray kwargs."""
    from transformers import AutoConfig, AutoModel, ClapConfig, ClapProcessor

    model = tiny_reward_model(seed=1)
    assert isinstance(getattr(model, model.base_model_prefix), torch.nn.Module)
    assert isinstance(model.config.clap_config, ClapConfig) and model.config.t5_config is None
    model.save_pretrained(tmp_path / "rm")
    capfd.readouterr()
    config = AutoConfig.from_pretrained(tmp_path / "rm")
    loaded = AutoModel.from_pretrained(tmp_path / "rm")
    assert type(loaded) is BatonRewardModel and config.model_type == "baton_reward"
    assert isinstance(BatonRewardModel.from_pretrained(tmp_path / "rm").processor, ClapProcessor)
    assert "to instantiate a model of type" not in "".join(capfd.readouterr())
    with pytest.raises(TypeError, match="unexpected keyword argument 'return_dict'"):
        loaded(text_embeds=torch.zeros(1, 32), audio_embeds=torch.zeros(1, 32), return_dict=True)


def test_processor_load_errors_are_surfaced(tmp_path):
    """A folder without a processor loads (score says what is missing); a broken one is an error."""
    model = tiny_reward_model()
    model.processor = None
    model.save_pretrained(tmp_path / "bare")
    with pytest.raises(ValueError, match="has no processor"):
        BatonRewardModel.from_pretrained(tmp_path / "bare").score(["a"], [sine(16000, 1.0)], 16000)
    tiny_reward_model().save_pretrained(tmp_path / "broken")
    (tmp_path / "broken" / "processor_config.json").write_text("{not json")
    with pytest.raises(Exception, match=r"processor_config\.json|Expecting|JSON"):
        BatonRewardModel.from_pretrained(tmp_path / "broken")


def test_labelling_refuses_clips_far_from_the_expected_length_naming_rows(tmp_path):
    """Found by the trust probe: a one-hour clip was scored without a word (2.9 GB)."""
    import numpy as np
    from datasets import Audio, Dataset

    from baton_tta.data import encode_audio
    from baton_tta.data.schema import PreferenceDataError
    from baton_tta.reward.labelling import label_with_reward_model
    from baton_tta.tiny import tiny_reward_model
    from baton_tta.toy.tones import tone_clip

    rng = np.random.default_rng(0)
    clips = [encode_audio(tone_clip(rng, s), 16000, f"{i}.wav") for i, s in enumerate([1.0, 0.3, 1.0, 61.0])]
    data = Dataset.from_dict(
        {"prompt": ["a hum"] * 4, "audio": clips, "label": [-1] * 4, "source": ["unlabelled"] * 4}
    ).cast_column("audio", Audio(decode=False))
    model = tiny_reward_model()
    with pytest.raises(
        PreferenceDataError, match=r"row 3, column 'audio': clip is 61\.0 s, longer than"
    ) as error:
        label_with_reward_model(data, model, tmp_path / "a")
    assert "row 1" not in str(error.value)  # without an expected length, only the cap applies
    with pytest.raises(PreferenceDataError, match=r"row 1, column 'audio': clip is 0\.30 s, expected 1 s"):
        label_with_reward_model(data.select([0, 1, 2]), model, tmp_path / "b", audio_length_s=1.0)
    assert not (tmp_path / "b" / "score_shards").exists()  # refused before any scoring


def test_one_class_labels_warn_that_auc_is_undefined(caplog):
    import logging
    import math

    from baton_tta.reward.metrics import reward_metrics

    with caplog.at_level(logging.WARNING, logger="baton_tta.reward.metrics"):
        metrics = reward_metrics([1, 1, 1], [0.9, 0.2, 0.7])
    assert math.isnan(metrics["roc_auc"]) and "every label is 1: ROC AUC is undefined" in caplog.text
