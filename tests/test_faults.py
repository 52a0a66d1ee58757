"""Faults a practitioner must never meet silently, each reproduced: a run that ends "successfully"
with a broken model, a secret in a file, two runs mixed in one folder, a checkpoint half written,
and input errors that do not say where they are."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi

from baton_tta.tiny import tiny_tango_pipeline
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer
from baton_tta.trainer.safety import (
    COMPLETE_MARKER,
    FiniteStepGuard,
    NonFiniteError,
    last_complete_checkpoint,
)

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


@pytest.mark.parametrize(
    "argv, named",
    [
        (["train-grpo", "--config", "recipes/grpo_toy.yaml", "--beta", "nan"], "beta=nan"),
        (
            ["train-grpo", "--config", "recipes/grpo_toy.yaml", "--guidance_scale", "nan"],
            "guidance_scale=nan",
        ),
        (["train-kto", "--config", "recipes/kto_toy.yaml", "--kto_beta", "nan"], "kto_beta=nan"),
        (
            [
                "train-crpo",
                "--pipeline_name_or_path",
                "tiny-random",
                "--dataset_name",
                "x",
                "--rpo_alpha",
                "nan",
            ],
            "rpo_alpha=nan",
        ),
        (
            [
                "train-dpo",
                "--pipeline_name_or_path",
                "tiny-random",
                "--dataset_name",
                "x",
                "--dpo_beta",
                "inf",
            ],
            "dpo_beta=inf",
        ),
        (["train", "--learning_rate", "nan"], "learning_rate=nan"),
        (
            ["train-reward-model", "--dataset_name", "tiny-random", "--learning_rate", "nan"],
            "learning_rate=nan",
        ),
        (
            [
                "label-with-reward-model",
                "--dataset",
                "x",
                "--reward_model",
                "y",
                "--max_audio_length_s",
                "nan",
            ],
            "max_audio_length_s=nan",
        ),
    ],
)
def test_nan_and_infinite_settings_are_refused_when_the_config_is_built(argv, named, tmp_path, monkeypatch):
    """Found by the third trust pass: NaN compares false, so ``--beta nan`` trained GRPO with no KL
    and ``--guidance_scale nan`` with no guidance, both exit 0; others were caught only at step 1."""
    from baton_tta.cli import main

    monkeypatch.chdir(ROOT)
    said = rf"^baton-tta {argv[0]}: \w+: numeric settings must be finite numbers, got {named}"
    with pytest.raises(SystemExit, match=said):  # a refused setting: one line at the command line
        main([*argv, "--output_dir", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_finite_settings_are_checked_for_python_users_too():
    from baton_tta.reward.training import RewardTrainingConfig
    from baton_tta.trainer import DiffusionGRPOConfig

    with pytest.raises(ValueError, match=r"DiffusionGRPOConfig: .*got beta=nan"):
        DiffusionGRPOConfig(output_dir="unused", use_cpu=True, beta=float("nan"))
    with pytest.raises(ValueError, match=r"reward_weights=\[1.0, inf\]"):
        DiffusionGRPOConfig(output_dir="unused", use_cpu=True, reward_weights=[1.0, float("inf")])
    with pytest.raises(ValueError, match=r"RewardTrainingConfig: .*weight_decay=nan"):
        RewardTrainingConfig(weight_decay=float("nan"))


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


def _kill_during_a_save(command: list[str], folder: Path) -> None:
    """Start ``command`` and SIGKILL it the moment a checkpoint folder exists without its completion
    marker, i.e. while that checkpoint is being written."""
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = {p.name for p in folder.glob("checkpoint-*")}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        fresh = [p for p in folder.glob("checkpoint-*") if p.name not in seen]
        if any(not (p / COMPLETE_MARKER).exists() for p in fresh):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, (
        f"the run ended before a save could be hit: {stderr[-1500:]!r}"
    )


@pytest.mark.slow
def test_kill_during_a_save_always_resumes(tmp_path, caplog):
    """SIGKILL a run while it writes a checkpoint, twice; each restart with --resume_from_checkpoint
    last skips the torn checkpoint (no FileNotFoundError) and the run finishes."""
    folder = tmp_path / "run"
    command = [sys.executable, str(ROOT / "trainers" / "train.py"), "--pipeline_name_or_path", "tiny-random"]
    command += ["--dataset_name", "tiny-random", "--builtin_dataset_rows", "16", "--audio_length_s", "1"]
    command += ["--max_steps", "6", "--save_steps", "1", "--per_device_train_batch_size", "2"]
    command += ["--validation_every_n_steps", "0", "--output_dir", str(folder)]
    _kill_during_a_save(command, folder)
    _kill_during_a_save([*command, "--resume_from_checkpoint", "last"], folder)
    assert any(not (p / COMPLETE_MARKER).exists() for p in folder.glob("checkpoint-*"))  # a torn one is there
    from baton_tta.cli import main  # the last resume needs no process of its own: here

    assert main(["train", *command[2:], "--resume_from_checkpoint", "last"]) == 0
    assert "was not written completely" in caplog.text and (folder / "model_index.json").is_file()


def test_resume_on_data_rewritten_in_place_is_refused(tmp_path):
    """Found by the trust probe: the data file was rewritten (labels flipped) and the run resumed,
    because run.json recorded only its path."""
    folder = tmp_path / "prefs"
    data = tone_preference_dataset(8, reward_rows=False)
    data.save_to_disk(str(folder))
    _trainer(tmp_path, data=str(folder), save_strategy="steps", save_steps=1).train()
    flipped = data.map(lambda row: {"label": 1 - row["label"], "reward": 1.0 - row["reward"]})
    flipped.save_to_disk(str(tmp_path / "flipped"))
    shutil.rmtree(folder)
    shutil.copytree(tmp_path / "flipped", folder)  # same path, other labels
    resumed = _trainer(tmp_path, data=str(folder), save_strategy="steps", save_steps=1, max_steps=3)
    with pytest.raises(ValueError, match=r"data content: \['preference dataset content [0-9a-f]{16}'"):
        resumed.train(resume_from_checkpoint="last")


def test_a_second_run_on_a_folder_in_use_is_refused_with_the_holders_pid(tmp_path):
    """Found by the trust probe: two resumes of one folder both trained and wrote checkpoints."""
    from baton_tta.data.lock import LOCK_FILE, OutputFolderInUse

    _trainer(tmp_path, save_strategy="steps", save_steps=1).train()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / "out" / LOCK_FILE
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "now"}))
        second = _trainer(tmp_path, save_strategy="steps", save_steps=1, max_steps=3)
        with pytest.raises(OutputFolderInUse, match=rf"is in use by PID {holder.pid} on "):
            second.train(resume_from_checkpoint="last")
    finally:
        holder.kill()
        holder.wait()
    again = _trainer(tmp_path, save_strategy="steps", save_steps=1, max_steps=3)
    again.train(resume_from_checkpoint="last")  # the holder is gone: its lock is stale and replaced
    assert again.state.global_step == 3 and json.loads(lock.read_text())["pid"] == os.getpid()


def test_overwrite_never_clears_a_folder_a_live_run_holds(tmp_path):
    """Found by the third trust pass: ``--overwrite_output_dir`` cleared the folder (checkpoints and
    lock) before taking the lock, and both runs finished into one mixed folder. The lock comes
    first; clearing keeps it."""
    from baton_tta.data.lock import LOCK_FILE, OutputFolderInUse

    _trainer(tmp_path, save_strategy="steps", save_steps=1).train()
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / "out" / LOCK_FILE
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(), "started": "now"}))
        with pytest.raises(OutputFolderInUse, match=rf"is in use by PID {holder.pid}"):
            _trainer(tmp_path, overwrite_output_dir=True).train()
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before  # nothing deleted
        assert json.loads(lock.read_text())["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    second = _trainer(tmp_path, overwrite_output_dir=True)  # the holder is gone: stale lock, cleared
    second.train()
    assert not list((tmp_path / "out").glob("checkpoint-*"))
    assert json.loads((tmp_path / "out" / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_full_disk_during_a_checkpoint_says_space_and_keeps_the_last_complete_one(tmp_path, monkeypatch):
    """Found by the trust probe: a disk that filled during a checkpoint ended the run with torch's
    ``unexpected pos 2797504 vs 2797392`` — the word "space" nowhere — and left a torn folder."""
    from baton_tta.trainer import safety

    _trainer(tmp_path, save_strategy="steps", save_steps=1).train()
    complete = last_complete_checkpoint(tmp_path / "out")
    real_save = torch.save

    def save_on_a_full_disk(obj, f, *args, **kwargs):
        if "optimizer" in str(f):
            real_save(obj, f, *args, **kwargs)  # some bytes reach the disk first
            raise RuntimeError(
                "[enforce fail at inline_container.cc:603] . unexpected pos 2797504 vs 2797392"
            )
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_on_a_full_disk)
    resumed = _trainer(tmp_path, save_strategy="steps", save_steps=1, max_steps=3)
    with pytest.raises(safety.CheckpointSpaceError, match="ran out of space") as error:
        resumed.train(resume_from_checkpoint="last")
    message = str(error.value)
    assert "checkpoint-3" in message and "unexpected pos" in message and complete in message
    assert not (tmp_path / "out" / "checkpoint-3").exists()
    assert last_complete_checkpoint(tmp_path / "out") == complete
    monkeypatch.setattr(torch, "save", real_save)

    class Usage:
        free = 1000

    monkeypatch.setattr(safety.shutil, "disk_usage", lambda path: Usage())
    refused = _trainer(tmp_path, save_strategy="steps", save_steps=1, max_steps=3)
    with pytest.raises(safety.CheckpointSpaceError, match=r"not enough disk space .* 0.0 MB free, about"):
        refused.train(resume_from_checkpoint="last")
    assert not (tmp_path / "out" / "checkpoint-3").exists()


def test_the_gradient_guard_reads_the_norm_once_per_step_and_names_the_broken_parameters(
    tmp_path, monkeypatch
):
    """The guard used to test every parameter's gradient on the host before every step (one device
    sync each: hundreds per step on a GPU); it now reads the norm the Trainer computes anyway."""
    trainer = _trainer(tmp_path, max_steps=2)
    calls = {"n": 0}
    original = torch.isfinite

    def counting(tensor):
        calls["n"] += 1
        return original(tensor)

    monkeypatch.setattr(torch, "isfinite", counting)
    trainer.train()
    parameters = sum(1 for p in trainer.model.parameters() if p.requires_grad)
    assert calls["n"] <= 4 < parameters  # the loss checks only, not one per parameter
    broken = _trainer(tmp_path / "broken", max_steps=2, max_grad_norm=0.0)  # clipping would spread the NaN
    name, weight = next((n, p) for n, p in broken.model.named_parameters() if p.requires_grad)
    weight.register_hook(lambda grad: torch.full_like(grad, float("nan")))
    with pytest.raises(
        NonFiniteError,
        match=rf"step 1: non-finite gradients in 1 parameter\(s\), first \['{re.escape(name)}'\]",
    ):
        broken.train()
    assert all(bool(original(p).all()) for p in broken.model.parameters())


def _overflowing(trainer, steps: int):
    """A GradScaler on the CPU (what accelerate builds for fp16 on a GPU) and a gradient that overflows
    at the first ``steps`` optimizer steps: what an fp16 run meets when its scale is too high."""
    trainer.accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    weight = next(p for p in trainer.model.parameters() if p.requires_grad)
    seen = {"backwards": 0}

    def overflow(grad):
        seen["backwards"] += 1
        return torch.full_like(grad, float("inf")) if seen["backwards"] <= steps else grad

    weight.register_hook(overflow)
    return weight


def test_an_fp16_overflow_is_a_skipped_step_and_the_run_goes_on(tmp_path):
    """The scaler skips an overflowing step and halves its scale; the guard used to read that step's
    infinite norm as a broken run and stop training at the first overflow."""
    trainer = _trainer(tmp_path, max_steps=4)
    weight = _overflowing(trainer, steps=2)
    before = weight.detach().clone()
    trainer.train()
    assert trainer.state.global_step == 4
    assert trainer.accelerator.scaler.get_scale() == 2.0**10 / 4  # halved at each of the two skips
    assert trainer.finite_guard.skipped_in_a_row == 0  # the later steps were taken
    assert bool(weight.isfinite().all()) and not torch.equal(weight.detach(), before)


def test_an_fp16_run_that_only_overflows_stops_after_the_skips_in_a_row(tmp_path):
    trainer = _trainer(tmp_path, max_steps=6)
    trainer.finite_guard = FiniteStepGuard(max_skipped=3)
    weight = _overflowing(trainer, steps=6)
    with pytest.raises(NonFiniteError, match=r"step 3: the fp16 gradient scaler skipped 3 steps in a row"):
        trainer.train()
    assert bool(weight.isfinite().all())


def test_a_non_finite_loss_under_the_scaler_still_stops_with_the_term(tmp_path):
    guard = FiniteStepGuard()
    guard.record_loss(torch.tensor(float("nan")), {"loss_preference": torch.tensor(float("nan"))})
    with pytest.raises(NonFiniteError, match=r"step 7: the loss is nan \(loss_preference = nan\)"):
        guard.check(7, torch.tensor(float("nan")), torch.nn.Linear(1, 1), scaled=True)


#: the fewest words each command that writes an output_dir parses with (values never read: the lock
#: is taken right after parsing)
WRITING_COMMANDS = {
    "build-eval-sets": [],
    "convert-audio-alpaca": ["--source", "x"],
    "convert-baton-audiocaps": ["--json_files", "x", "--audio_dir", "y"],
    "convert-baton-official": ["--json_files", "x", "--audio_dir", "y"],
    "convert-laion-clap": ["--checkpoint", "x"],
    "convert-tango": ["--checkpoint", "x"],
    "evaluate": ["--pipelines", "base=tiny-random", "--eval_set", "x"],
    "export-labels": ["--dataset", "x", "--store", "s"],
    "generate": ["--prompts", "a"],
    "generate-audio": ["--prompts", "x"],
    "label-with-reward-model": ["--dataset", "x", "--reward_model", "r"],
    "make-prompts": ["--labels_file", "x"],
    "merge-labels": ["--sources", "x"],
    "toy-demo": [],
    "train": ["--pipeline_name_or_path", "tiny-random", "--dataset_name", "tiny-random"],
    "train-crpo": ["--pipeline_name_or_path", "tiny-random", "--dataset_name", "x"],
    "train-dpo": ["--pipeline_name_or_path", "tiny-random", "--dataset_name", "x"],
    "train-grpo": ["--pipeline_name_or_path", "tiny-random", "--dataset_name", "x", "--reward", "toy-oracle"],
    "train-kto": ["--pipeline_name_or_path", "tiny-random", "--dataset_name", "tiny-random"],
    "train-online": ["--pipeline_name_or_path", "tiny-random"],
    "train-reward-model": ["--dataset_name", "x"],
}


def test_every_command_that_writes_takes_its_folders_lock_before_writing_anything(tmp_path):
    """Found by the fourth trust pass: a second ``train-online`` on a live folder wrote 17 reward-cache
    files before it was refused, and two labelling runs on one folder both ran. Every command with an
    ``--output_dir`` (the flag index lists them) takes the folder's lock as soon as it has parsed, so
    while another live process holds it each is refused in one line and the folder keeps only the
    holder's lock; the lock is given back when the command ends."""
    from baton_tta.cli import main
    from baton_tta.data.lock import LOCK_FILE
    from baton_tta.scripts.early_checks import FLAG_INDEX

    index = json.loads(FLAG_INDEX.read_text())
    assert set(WRITING_COMMANDS) == {c for c, flags in index.items() if "--output_dir" in flags}
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for command, words in WRITING_COMMANDS.items():
            folder = tmp_path / command
            folder.mkdir()
            held = {"pid": holder.pid, "host": socket.gethostname(), "started": "now"}
            (folder / LOCK_FILE).write_text(json.dumps(held))
            with pytest.raises(SystemExit, match=rf"^baton-tta {command}: .* is in use by PID {holder.pid}"):
                main([command, *words, "--output_dir", str(folder)])
            assert [p.name for p in folder.iterdir()] == [LOCK_FILE], command
    finally:
        holder.kill()
        holder.wait()
    # a refused command leaves no folder of its own behind; one that ran gives its lock back
    with pytest.raises(SystemExit, match="no label store"):
        main(
            [
                "export-labels",
                "--dataset",
                "x",
                "--store",
                str(tmp_path / "none.sqlite"),
                "--output_dir",
                str(tmp_path / "e"),
            ]
        )
    assert not (tmp_path / "e").exists()
    labels = str(Path(__file__).parents[1] / "examples" / "audioset_labels_sample.csv")
    main(
        [
            "make-prompts",
            "--labels_file",
            labels,
            "--num_integrity",
            "2",
            "--num_temporal",
            "2",
            "--output_dir",
            str(tmp_path / "p"),
        ]
    )
    assert (tmp_path / "p" / "prompts.jsonl").is_file() and not (tmp_path / "p" / LOCK_FILE).exists()
