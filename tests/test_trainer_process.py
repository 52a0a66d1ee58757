"""The training script as users run it: main job, SIGKILL + resume, 2-process DDP, Hub push."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi
from safetensors.torch import load_file

from baton_tta.tiny import tiny_tango_pipeline, tiny_unet
from baton_tta.toy.tones import tone_preference_dataset, tone_pretrain_dataset
from baton_tta.trainer import RewardWeightedDiffusionConfig, RewardWeightedDiffusionTrainer
from helpers import load_in_a_fresh_process

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "trainers" / "train.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _unet_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))


@pytest.mark.slow
def test_train_script_default_is_the_toy_recipe(tmp_path, monkeypatch, capsys):
    """`python trainers/train.py` with no arguments (recipes/toy.yaml: the shipped toy TANGO) from
    another directory (the script run as ``__main__`` in this process: its own file, its own argv)."""
    import runpy

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(TRAIN)])
    with pytest.raises(SystemExit) as exited:  # the script exits with the command's status
        runpy.run_path(str(TRAIN), run_name="__main__")
    assert exited.value.code == 0
    printed = capsys.readouterr().out
    out = tmp_path / "outputs" / "baton-toy-tango"
    assert f"pipeline, model card and training curves written to {out.resolve()}" in printed
    assert "trust_remote_code=True" in printed
    assert {"README.md", "training_curves.png", "pipeline_tango.py"} <= {p.name for p in out.iterdir()}
    assert list((out / "validation").glob("step-*/00.wav"))
    # the saved toy pipeline loads in a fresh process that imports nothing of baton_tta (found by the
    # trust probe: its vocoder's code was not shipped)
    assert load_in_a_fresh_process(out, ENV) == ["GriffinLimVocoder", "False"]


def test_the_toy_recipe_is_the_packaged_default_of_baton_tta_train():
    """`baton-tta train` with no arguments runs the offline toy recipe (it failed on the 10 s length
    default), the same file as recipes/toy.yaml."""
    from baton_tta.scripts.train import TOY_RECIPE, with_default_recipe

    assert TOY_RECIPE.read_text() == (ROOT / "recipes" / "toy.yaml").read_text()
    assert with_default_recipe([]) == ["--config", str(TOY_RECIPE)]
    assert with_default_recipe(["--max_steps", "2"])[:2] == ["--config", str(TOY_RECIPE)]
    assert with_default_recipe(["--dataset_name", "x"]) == ["--dataset_name", "x"]
    with pytest.raises(SystemExit, match=r"recipes/kto_toy\.yaml runs offline"):
        with_default_recipe([], recipe=None)  # train-kto has no built-in default


def test_train_kto_runs_its_offline_toy_recipe(tmp_path):
    """`baton-tta train-kto --config recipes/kto_toy.yaml`: Diffusion-KTO from the shipped toy TANGO on
    toy-world rows; the loss starts at ½ (model = reference) and the card names the objective."""
    from baton_tta.cli import main

    out = tmp_path / "kto"
    argv = ["train-kto", "--config", str(ROOT / "recipes" / "kto_toy.yaml"), "--output_dir", str(out)]
    assert main([*argv, "--max_steps", "3", "--logging_steps", "1", "--save_strategy", "no"]) == 0
    state = json.loads((out / "run.json").read_text())
    assert state["settings"]["kto_beta"] == 2000.0
    card = (out / "README.md").read_text()
    assert "# Diffusion-KTO fine-tuned" in card
    assert load_in_a_fresh_process(out, ENV) == ["GriffinLimVocoder", "False"]


def test_train_grpo_runs_its_offline_toy_recipe(tmp_path, capsys):
    """`baton-tta train-grpo --config recipes/grpo_toy.yaml` (fewer steps, a smaller toy reward model):
    GRPO from the shipped toy TANGO rewarded by the built-in toy reward model; the plan is printed,
    the card names the objective, and the pipeline loads in a fresh process."""
    from baton_tta.cli import main

    out = tmp_path / "grpo"
    argv = ["train-grpo", "--config", str(ROOT / "recipes" / "grpo_toy.yaml"), "--output_dir", str(out)]
    small = [
        "--max_steps",
        "2",
        "--save_strategy",
        "no",
        "--toy_reward_prompts",
        "4",
        "--toy_prompts_per_task",
        "2",
    ]
    assert main([*argv, *small]) == 0
    assert "GRPO plan: 2 updates" in capsys.readouterr().out
    settings = json.loads((out / "run.json").read_text())["settings"]  # a resume with others is refused
    assert (settings["num_generations"], settings["eta"], settings["timestep_fraction"]) == (6, 1.0, 0.5)
    assert "# GRPO fine-tuned" in (out / "README.md").read_text()
    assert load_in_a_fresh_process(out, ENV) == ["GriffinLimVocoder", "False"]
    with pytest.raises(SystemExit, match=r"recipes/grpo_toy\.yaml runs offline"):
        main(["train-grpo"])


ARGS = [
    "--config",
    str(ROOT / "recipes" / "tiny_random.yaml"),
    "--max_steps",
    "8",
    "--save_steps",
    "2",
    "--logging_steps",
    "1",
    "--validation_every_n_steps",
    "0",
    "--builtin_dataset_rows",
    "16",
    "--per_device_train_batch_size",
    "2",
    "--learning_rate",
    "0.01",
    "--save_total_limit",
    "10",
]


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, caplog):
    """Only the killed run needs a process of its own; the reference and the resume run here (one
    thread, as the killed one)."""
    from baton_tta.cli import main

    assert main(["train", *ARGS, "--output_dir", str(tmp_path / "ref")]) == 0

    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, str(TRAIN), *ARGS, "--output_dir", str(run_dir)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while (
        not (run_dir / "checkpoint-4" / "trainer_state.json").exists()
        and time.monotonic() < deadline
        and process.poll() is None
    ):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "model_index.json").exists(), "killed before the end"
    assert (run_dir / "checkpoint-4").is_dir()

    caplog.set_level("INFO", logger="baton_tta.trainer")
    assert main(["train", *ARGS, "--output_dir", str(run_dir), "--resume_from_checkpoint", "last"]) == 0
    assert "resuming from" in caplog.text and "checkpoint-" in caplog.text
    expected, got = _unet_weights(tmp_path / "ref"), _unet_weights(run_dir)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["baton", "grpo"])
def test_accelerate_two_cpu_processes_keep_ranks_identical(tmp_path, objective):
    # on CPU, accelerate's --cpu flag starts a single process; --multi_gpu runs torchrun, and the
    # worker's use_cpu=True makes each rank join a gloo (MULTI_CPU) group
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        str(ROOT / "tests" / "ddp_train_worker.py"),
        str(tmp_path),
        objective,
    ]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0 of 2 done" in result.stdout and "rank 1 of 2 done" in result.stdout
    rank0, rank1 = (
        load_file(str(tmp_path / "rank0.safetensors")),
        load_file(str(tmp_path / "rank1.safetensors")),
    )
    initial = tiny_unet(seed=3).state_dict()
    assert any(not torch.equal(rank0[k], initial[k]) for k in rank0), "training changed the weights"
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    if objective == "grpo":  # each rank sampled the groups of its own prompts, the update synced them
        sampled = [json.loads((tmp_path / f"rank{r}.prompts.json").read_text()) for r in (0, 1)]
        assert len(sampled[0]) == len(sampled[1]) == 2 and not set(sampled[0]) & set(sampled[1])


def test_push_to_hub_uploads_everything_in_one_commit(tmp_path, loopback_hub):
    args = RewardWeightedDiffusionConfig(
        output_dir=str(tmp_path / "out"),
        audio_length_s=1.0,
        per_device_train_batch_size=4,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_lora=True,
        lora_rank=4,
        hub_model_id="baton/tiny-baton",
        dataloader_pin_memory=False,
    )
    trainer = RewardWeightedDiffusionTrainer(
        tiny_tango_pipeline(), args, tone_preference_dataset(8), tone_pretrain_dataset(4)
    )
    trainer.train()
    before = len(
        loopback_hub.state.repos.get(("model", "baton/tiny-baton"), type("R", (), {"commits": []})).commits
    )
    trainer.push_to_hub()
    repo = loopback_hub.state.repos[("model", "baton/tiny-baton")]
    assert len(repo.commits) == before + 2  # repo creation + exactly one upload commit
    files = {s.rfilename for s in HfApi().repo_info("baton/tiny-baton").siblings}
    assert {
        "README.md",
        "training_curves.png",
        "pytorch_lora_weights.safetensors",
        "model_index.json",
        "pipeline_tango.py",
        "unet/diffusion_pytorch_model.safetensors",
    } <= files
    from diffusers import DiffusionPipeline

    loaded = DiffusionPipeline.from_pretrained(
        "baton/tiny-baton", trust_remote_code=True, cache_dir=tmp_path / "cache"
    )
    loaded.load_lora_weights("baton/tiny-baton", cache_dir=tmp_path / "cache")
    assert type(loaded).__name__ == "TangoPipeline"


def test_after_a_push_the_load_hint_names_the_hub_repo(tmp_path, loopback_hub, capsys):
    """Found by the new-user probe: after ``--push_to_hub`` the "Load it with" hint showed the local
    folder. It shows the repo the files went to, namespace included (a bare ``--hub_model_id`` lands
    in the user's namespace); without a push, the folder."""
    from baton_tta.cli import main

    argv = [
        "train",
        *ARGS[:2],
        "--max_steps",
        "1",
        "--save_strategy",
        "no",
        "--validation_every_n_steps",
        "0",
    ]
    assert (
        main(
            [
                *argv,
                "--output_dir",
                str(tmp_path / "out"),
                "--push_to_hub",
                "true",
                "--hub_model_id",
                "tiny-baton",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    repo = next(repo_id for _, repo_id in loopback_hub.state.repos)
    assert repo.endswith("/tiny-baton") and f'DiffusionPipeline.from_pretrained("{repo}"' in printed
    assert str(tmp_path) not in printed.split("Load it with:")[1]
    assert main([*argv, "--output_dir", str(tmp_path / "local")]) == 0
    assert f'from_pretrained("{(tmp_path / "local").resolve()}"' in capsys.readouterr().out
