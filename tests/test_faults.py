"""Faults a practitioner must never meet silently, each reproduced: a run that ends "successfully"
with a broken model, a secret in a file, two runs mixed in one folder, a checkpoint half written,
and input errors that do not say where they are."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from baton_tta.tiny import tiny_tango_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer
from baton_tta.trainer.safety import COMPLETE_MARKER, NonFiniteError, last_complete_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
TOKEN = "hf_MARKERtokenTHATmustNEVERbeWRITTEN0123"


def _args(tmp_path, **overrides) -> RewardWeightedDiffusionConfig:
    values = {
        "output_dir": str(tmp_path / "out"),
        "audio_length_s": 1.0,
        "per_device_train_batch_size": 4,
        "max_steps": 2,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "dataloader_pin_memory": False,
        "seed": 3,
    }
    return RewardWeightedDiffusionConfig(**{**values, **overrides})


def _trainer(tmp_path, data=None, **overrides) -> RewardWeightedDiffusionTrainer:
    data = data if data is not None else tone_preference_dataset(8)
    return RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(), _args(tmp_path, **overrides), data, tone_pretrain_dataset(4)
    )


# ------------------------------------------------------------------ a broken model never "succeeds"
def test_exploding_learning_rate_stops_with_the_step_and_the_term(tmp_path):
    """lr 1e6 used to finish with loss 0, grad_norm nan and a UNet of NaNs; now it stops at the first
    non-finite value, names the step and what broke, and writes no pipeline."""
    trainer = _trainer(tmp_path, learning_rate=1e6, max_steps=6)
    with pytest.raises(NonFiniteError, match=r"step \d+: (the loss is|non-finite gradients)") as error:
        trainer.train()
    message = str(error.value)
    assert "loss_preference" in message or "loss_pretrain" in message or "gradients in" in message
    unet = trainer.accelerator.unwrap_model(trainer.model)
    assert all(bool(p.isfinite().all()) for p in unet.parameters())  # stopped before the optimizer step
    assert not (tmp_path / "out" / "model_index.json").exists()


def test_infinite_reward_is_refused_for_every_transform(tmp_path):
    data = tone_preference_dataset(8).map(
        lambda row, i: {"reward": float("inf")} if i == 1 else {}, with_indices=True
    )
    for transform in ("identity", "exp"):
        with pytest.raises(
            ValueError, match=r"row 1, column 'reward': inf must be a finite number in \[0, 1\]"
        ):
            _trainer(tmp_path, data=data, reward_transform=transform)


def test_negative_snr_gamma_and_fp16_on_cpu_are_refused(tmp_path):
    with pytest.raises(ValueError, match="snr_gamma must be > 0"):
        _args(tmp_path, snr_gamma=-5.0)
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        _args(tmp_path, fp16=True, use_cpu=True)


def test_card_records_the_precision_that_ran_and_the_last_logged_loss(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.train()
    trainer.save_model()
    card = (tmp_path / "out" / "README.md").read_text()
    last = [e["loss"] for e in trainer.state.log_history if "loss" in e][-1]
    assert "| `mixed_precision (as run)` | `no` |" in card
    assert f"final logged train loss: {last:.4g}" in card
    assert "`bf16`" not in card and "`fp16`" not in card


# ------------------------------------------------------------------ nothing secret, nothing stale
def test_token_is_never_written_nor_uploaded_and_push_is_one_commit(tmp_path, loopback_hub):
    trainer = _trainer(
        tmp_path,
        max_steps=2,
        save_strategy="steps",
        save_steps=1,
        use_lora=True,
        lora_rank=4,
        push_to_hub=True,
        hub_model_id="baton/secret-test",
        hub_token=TOKEN,
    )
    trainer.train()
    assert ("model", "baton/secret-test") not in loopback_hub.state.repos  # no pushes during training
    trainer.push_to_hub()
    repo = loopback_hub.state.repos[("model", "baton/secret-test")]
    assert len(repo.commits) == 2  # creation + exactly one upload
    uploaded = {s.rfilename for s in HfApi().repo_info("baton/secret-test").siblings}
    assert uploaded == {
        ".gitattributes",
        "README.md",
        "training_curves.png",
        "pytorch_lora_weights.safetensors",
        "model_index.json",
        "pipeline_tango.py",
        *(
            f
            for f in uploaded
            if f.split("/")[0] in ("unet", "vae", "vocoder", "text_encoder", "tokenizer", "scheduler")
        ),
    }
    assert not any(
        f.endswith((".bin", ".pt")) or f.startswith("checkpoint-") or f == "model.safetensors"
        for f in uploaded
    )
    blobs = [f.content for _, files in repo.commits for f in files.values()] + list(
        loopback_hub.state.lfs_objects.values()
    )
    assert not any(TOKEN.encode() in blob for blob in blobs)
    written = [p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written and not any(TOKEN.encode() in blob for blob in written)
    assert list((tmp_path / "out").glob("checkpoint-*/training_args.bin"))  # still there, without the token


# ------------------------------------------------------------------ runs never mix
def test_a_second_run_is_refused_and_overwrite_clears(tmp_path):
    first = _trainer(tmp_path, use_lora=True, lora_rank=4)
    first.train()
    first.save_model()
    assert (tmp_path / "out" / "pytorch_lora_weights.safetensors").is_file()
    with pytest.raises(FileExistsError, match=r"holds another run's results.*--overwrite_output_dir"):
        _trainer(tmp_path).train()
    second = _trainer(tmp_path, overwrite_output_dir=True)
    second.train()
    second.save_model()
    assert not (
        tmp_path / "out" / "pytorch_lora_weights.safetensors"
    ).exists()  # the first run's file is gone
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["settings"]["use_lora"] is False and len(run["data"]) == 2


def test_resume_with_changed_settings_is_an_error_listing_them(tmp_path):
    _trainer(tmp_path, save_strategy="steps", save_steps=1).train()
    changed = _trainer(tmp_path, save_strategy="steps", save_steps=1, learning_rate=5e-3, seed=9, beta=0.1)
    with pytest.raises(ValueError, match=r"beta: 0\.5 → 0\.1; learning_rate: 1e-05 → 0\.005; seed: 3 → 9"):
        changed.train(resume_from_checkpoint="last")
    same = _trainer(
        tmp_path, save_strategy="steps", save_steps=1, max_steps=3
    )  # a longer run is the same run
    same.train(resume_from_checkpoint="last")
    assert same.state.global_step == 3


def test_half_written_checkpoint_is_skipped_with_a_warning(tmp_path, caplog):
    _trainer(tmp_path, save_strategy="steps", save_steps=1).train()
    complete = last_complete_checkpoint(tmp_path / "out")
    assert complete.endswith("checkpoint-2") and (Path(complete) / COMPLETE_MARKER).is_file()
    torn = tmp_path / "out" / "checkpoint-3"
    torn.mkdir()
    (torn / "model.safetensors").write_bytes(b"\0" * 10)  # a save killed half way
    with caplog.at_level(logging.WARNING, logger="baton_tta.trainer.safety"):
        assert last_complete_checkpoint(tmp_path / "out") == complete
    assert "checkpoint-3 was not written completely" in caplog.text
    resumed = _trainer(tmp_path, save_strategy="steps", save_steps=1, max_steps=3)
    resumed.train(resume_from_checkpoint="last")
    assert resumed.state.global_step == 3


@pytest.mark.slow
def test_repeated_kills_during_saves_always_resume(tmp_path):
    """SIGKILL a run that saves every step, at staggered moments, three times; every restart with
    --resume_from_checkpoint last continues, and the run finishes."""
    command = [sys.executable, str(ROOT / "trainers" / "train.py"), "--pipeline_name_or_path", "tiny"]
    command += ["--dataset_name", "tiny", "--builtin_dataset_rows", "16", "--audio_length_s", "1"]
    command += ["--max_steps", "10", "--save_steps", "1", "--per_device_train_batch_size", "2"]
    command += ["--validation_every_n_steps", "0", "--output_dir", str(tmp_path / "run")]
    for attempt, delay in enumerate((14.0, 3.0, 5.0)):
        resume = ["--resume_from_checkpoint", "last"] if attempt else []
        process = subprocess.Popen(
            [*command, *resume], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=60)
        assert b"FileNotFoundError" not in stderr and b"Traceback" not in stderr, stderr[-2000:]
    final = subprocess.run(
        [*command, "--resume_from_checkpoint", "last"], env=ENV, capture_output=True, text=True, timeout=600
    )
    assert final.returncode == 0, final.stderr[-3000:]
    assert (tmp_path / "run" / "model_index.json").is_file()


# ------------------------------------------------------------------ clear errors for bad input
def _csv_dataset(folder: Path, rows: list[dict]) -> Path:
    """A CSV preference dataset whose audio column holds paths to WAV files next to it."""
    from helpers import sine, wav_bytes

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(rows)):
        (folder / f"{i}.wav").write_bytes(wav_bytes(sine(16000, 0.3), 16000))
    header = ["prompt", "audio", *[k for k in rows[0] if k not in ("prompt", "audio")]]
    lines = [",".join(header)] + [
        ",".join(str(row.get(k, f"{i}.wav" if k == "audio" else "")) for k in header)
        for i, row in enumerate(rows)
    ]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    return folder / "data.csv"


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        (
            "label",
            ["yes", "no"],
            r"row 0, column 'label': 'yes' is not 1 \(aligned\), 0 \(not aligned\) or -1",
        ),
        ("label", [1, 1.5], r"row 1, column 'label': 1\.5 is not 1"),
        ("label", [300, 0], r"row 0, column 'label': 300 is not 1"),
        ("reward", [0.5, "high"], r"row 1, column 'reward': 'high' is not a number in \[0, 1\]"),
    ],
)
def test_bad_label_and_reward_values_name_row_and_column(tmp_path, column, values, message):
    from baton_tta.data import PreferenceDataError, load_preference_dataset

    rows = [{"prompt": f"a dog barks {i}", "label": 1, column: value} for i, value in enumerate(values)]
    with pytest.raises(PreferenceDataError, match=message):
        load_preference_dataset(_csv_dataset(tmp_path / "d", rows))


def test_in_memory_data_is_validated_like_loaded_data(tmp_path):
    from baton_tta.data import PreferenceDataError

    labelled_two = tone_preference_dataset(8).map(
        lambda row, i: {"label": 2} if i == 2 else {}, with_indices=True
    )
    with pytest.raises(PreferenceDataError, match=r"row 2, column 'label': 2 is not 1"):
        _trainer(tmp_path, data=labelled_two)
    invisible = tone_preference_dataset(8).map(
        lambda row, i: {"prompt": "\u200b\u200d\ufeff \x07"} if i == 5 else {}, with_indices=True
    )
    with pytest.raises(PreferenceDataError, match=r"row 5, column 'prompt': empty or missing prompt"):
        _trainer(tmp_path, data=invisible)


def test_empty_audio_bytes_say_so():
    from baton_tta.data import AudioDecodeError, decode_audio

    with pytest.raises(
        AudioDecodeError, match=r"row 3, column 'audio': the audio bytes are empty \(0 bytes\)"
    ):
        decode_audio({"bytes": b"", "path": "x.wav"}, 16000, where="row 3, column 'audio'")


def test_labels_csv_without_display_name_is_refused(tmp_path):
    from baton_tta.prompts import read_labels

    (tmp_path / "labels.csv").write_text("index,mid,name\n0,/m/09x0r,Speech\n")
    with pytest.raises(ValueError, match="needs a 'display_name' column"):
        read_labels(tmp_path / "labels.csv")
    (tmp_path / "labels.txt").write_text("Speech\nMale speech, man speaking\n")
    assert read_labels(tmp_path / "labels.txt") == ["Speech", "Male speech, man speaking"]


def test_missing_reward_model_path_says_it_does_not_exist(tmp_path):
    from baton_tta.reward import BatonRewardModel

    with pytest.raises(FileNotFoundError, match="no such reward-model folder"):
        BatonRewardModel.from_pretrained(str(tmp_path / "not" / "there"))


def test_reward_metrics_json_is_valid_json_when_a_metric_is_undefined(tmp_path):
    """All clips aligned: ROC-AUC is undefined; the file says null and why, and parses strictly."""
    from baton_tta.reward import RewardTrainingConfig, train_reward_model
    from baton_tta.tiny import tiny_reward_model
    from baton_tta.toy.tones import tone_labelled_dataset

    data = tone_labelled_dataset(24).map(lambda row: {"label": 1})
    config = RewardTrainingConfig(preset=None, num_epochs=1, batch_size=8)
    train_reward_model(tiny_reward_model(), data, config, tmp_path / "cache", tmp_path / "rm")

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    report = json.loads((tmp_path / "rm" / "reward_metrics.json").read_text(), parse_constant=refuse)
    assert report["metrics"]["overall"]["roc_auc"] is None
    assert any(note.startswith("metrics.overall.roc_auc is null") for note in report["notes"])


def test_audio_paths_are_confined_to_the_dataset_folder(tmp_path):
    from baton_tta.data import PreferenceDataError, load_preference_dataset
    from helpers import sine, wav_bytes

    (tmp_path / "secret.wav").write_bytes(wav_bytes(sine(16000, 0.3), 16000))
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "metadata.csv").write_text("file_name,prompt,label\n../secret.wav,a dog barks,1\n")
    with pytest.raises(
        PreferenceDataError, match=r"row 0, column 'file_name': '\.\./secret\.wav' points outside"
    ):
        load_preference_dataset(folder)
    assert len(load_preference_dataset(folder, allow_outside_paths=True)) == 1
    rows = [{"prompt": "a dog barks", "label": 1, "audio": str(tmp_path / "secret.wav")}]
    with pytest.raises(PreferenceDataError, match="points outside"):
        load_preference_dataset(_csv_dataset(tmp_path / "csv", rows))


# ------------------------------------------------------------------ the annotation app: one person, one name
def test_annotator_names_are_normalised_and_look_alikes_refused(tmp_path):
    from baton_tta.annotate import LabelStore
    from baton_tta.annotate.store import normalise_annotator

    assert {normalise_annotator(n) for n in ("Alice", " ALICE ", "ａｌｉｃｅ", "Ali\u200bce")} == {"alice"}
    with pytest.raises(ValueError, match="mixes writing systems"):
        normalise_annotator("\u0430lice")  # Cyrillic а + Latin lice
    assert normalise_annotator("Алиса") == "алиса"  # one writing system is fine
    store = LabelStore(tmp_path / "labels.sqlite", app_version="1")
    mine = store.add("clip", "Alice", 1)
    assert store.undo(mine, "bob") is None  # nobody withdraws another person's label
    assert store.undo(mine, "alice").clip_id == "clip"


def test_exposed_app_without_login_warns_and_logins_are_checked(tmp_path, monkeypatch):
    from baton_tta.scripts.annotate import exposure_warning, parse_auth

    assert exposure_warning("127.0.0.1", False, []) is None
    assert "without --auth" in exposure_warning("0.0.0.0", False, [])
    assert "gradio.live" in exposure_warning("127.0.0.1", True, [])
    assert exposure_warning("0.0.0.0", True, [("alice", "pw")]) is None
    (tmp_path / "users.txt").write_text("# annotators\nAlice:pw1\nbob:pw2\n")
    monkeypatch.setenv("BATON_ANNOTATE_AUTH", "carol:pw3")
    assert parse_auth(["dave:pw4"], str(tmp_path / "users.txt")) == [
        ("dave", "pw4"),
        ("carol", "pw3"),
        ("alice", "pw1"),
        ("bob", "pw2"),
    ]
    with pytest.raises(SystemExit, match="given twice"):
        parse_auth(["ALICE:x", "alice:y"])
