"""Every stage under ``accelerate launch`` with 2 CPU processes (gloo): each clip and score once,
outputs equal to one process (bytes for clips, numbers for scores and metrics), resume after a rank
is killed, with any process count."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, load_from_disk

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")
#: one thread per process, so one and two processes run the same kernels
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(processes: int, *argv: str) -> list[str]:
    """``baton-tta <argv>`` under ``accelerate launch`` with N CPU processes."""
    return [
        str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", str(processes),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), "-m", "baton_tta.cli", *argv,
    ]  # fmt: skip


def run(processes: int, *argv: str) -> subprocess.CompletedProcess:
    """``baton-tta <argv>`` on N processes. One process runs here, in this interpreter, on one thread
    as each launched rank does (the same kernels, so the same bytes): what is compared is the split
    across processes, and a fresh interpreter per reference only added its ~9 s of imports."""
    if processes == 1:
        from baton_tta.cli import main
        from baton_tta.scoped import torch_threads

        with torch_threads(1):
            assert main(list(argv)) == 0
        return subprocess.CompletedProcess(list(argv), 0, "", "")
    result = subprocess.run(command(processes, *argv), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prompts") / "prompts"
    words = ["a dog barks", "rain falls", "a bell rings", "a siren", "wind blows", "a car horn honks"]
    Dataset.from_dict({"prompt": [f"{w} then a hum" for w in words] + words[:3]}).save_to_disk(str(folder))
    return folder


GENERATE = [
    "--pipeline_name_or_path", "tiny-random", "--clips_per_prompt", "2", "--prompts_per_batch", "2",
    "--audio_length_in_s", "0.5", "--num_inference_steps", "3", "--audio_format", "wav",
]  # fmt: skip


def _clips(folder: Path) -> list[tuple[str, int, bytes]]:
    data = load_from_disk(str(folder / "dataset"))
    return [(r["prompt"], r["seed"], r["audio"]["bytes"]) for r in data]


@pytest.fixture(scope="module")
def one_process_clips(tmp_path_factory, prompts) -> Path:
    out = tmp_path_factory.mktemp("gen1") / "clips"
    run(1, "generate-audio", "--prompts", str(prompts), *GENERATE, "--output_dir", str(out))
    return out


def test_generate_audio_on_two_processes_writes_the_one_process_clips(tmp_path, prompts, one_process_clips):
    out = tmp_path / "clips"
    log = run(2, "generate-audio", "--prompts", str(prompts), *GENERATE, "--output_dir", str(out)).stderr
    # each process renders its share only (before, both rendered all 9 and raced on the same *.tmp)
    assert "process 0 of 2: 6 of 9 prompts" in log and "process 1 of 2: 3 of 9 prompts" in log
    assert _clips(out) == _clips(one_process_clips)  # every clip, byte for byte, in order
    shards = sorted(p.name for p in (out / "shards").glob("*.parquet"))
    assert shards == sorted(p.name for p in (one_process_clips / "shards").glob("*.parquet"))
    indices = [i for s in shards for i in range(int(s.split("-")[1]), int(s.split("-")[2][:6]) + 1)]
    assert sorted(indices) == list(range(9))  # each prompt exactly once
    assert not list(out.rglob("*.tmp"))


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def test_a_killed_rank_resumes_with_another_process_count(tmp_path, prompts, one_process_clips):
    out = tmp_path / "clips"
    argv = ["generate-audio", "--prompts", str(prompts), *GENERATE, "--output_dir", str(out)]
    launcher = subprocess.Popen(
        command(2, *argv), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((out / "shards").glob("*.parquet"))) < 1:
        time.sleep(0.05)
    ranks = [c for child in _children(launcher.pid) for c in [child, *_children(child)]]
    os.kill(max(ranks), signal.SIGKILL)  # one rank dies mid-stage; the launcher takes the other down
    launcher.wait(timeout=120)
    assert launcher.returncode != 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.parquet")}
    assert 0 < len(before) < 5
    run(1, *argv)  # resumed by one process
    after = {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("*.parquet")}
    assert all(after[name] == stamp for name, stamp in before.items())  # finished shards are not redone
    assert _clips(out) == _clips(one_process_clips)


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory) -> Path:
    from baton_tta.tiny import tiny_reward_model

    folder = tmp_path_factory.mktemp("reward") / "reward"
    tiny_reward_model().save_pretrained(folder)
    return folder


def test_label_with_reward_model_on_two_processes_scores_like_one(tmp_path, one_process_clips, reward_model):
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"labelled-{processes}"
        result = run(
            processes, "label-with-reward-model", "--dataset", str(one_process_clips / "dataset"),
            "--reward_model", str(reward_model), "--batch_size", "4", "--output_dir", str(out),
        )  # fmt: skip
        outputs[processes] = load_from_disk(str(out / "dataset"))
        if processes == 2:
            assert "process 1 of 2: 6 of 18 rows" in result.stderr
    assert outputs[1]["reward"] == outputs[2]["reward"] and set(outputs[2]["source"]) == {"reward_model"}
    shards = list((tmp_path / "labelled-2" / "score_shards").glob("*.parquet"))
    assert len(shards) == 5  # 18 rows in batches of 4, each batch scored by exactly one process


def test_evaluate_on_two_processes_gives_the_one_process_metrics(tmp_path, prompts):
    eval_set = tmp_path / "eval"
    captions = load_from_disk(str(prompts))["prompt"][:5]
    Dataset.from_dict({"audiocap_id": [str(i) for i in range(5)], "prompt": captions}).save_to_disk(
        str(eval_set)
    )
    results = {}
    for processes in (1, 2):
        out = tmp_path / f"eval-{processes}"
        run(
            processes, "evaluate", "--pipelines", "base=tiny-random", "--eval_set", str(eval_set),
            "--backbones", "tiny-random", "--num_inference_steps", "3", "--audio_length_in_s", "0.5",
            "--output_dir", str(out),
        )  # fmt: skip
        results[processes] = json.loads((out / "results.json").read_text())
    one, two = results[1]["results"]["base"], results[2]["results"]["base"]
    assert one.keys() == two.keys() and all(
        (a is None and b is None) or np.isclose(a, b, rtol=0, atol=0)
        for a, b in zip(one.values(), two.values())
    ), (one, two)
    assert results[2]["embedded_clips"]["base"]["clap"] == 5  # each clip embedded once in all


def test_online_rounds_on_two_processes_split_each_step_and_write_state_once(tmp_path):
    """Two tiny toy rounds under 2 processes: generation, scoring and judging are shared (round 1's
    clips, scores and the base model's judgement equal one process's), state files are written by
    one process, fine-tuning uses both (its numbers differ from one process: the batch is doubled)."""
    from tests.test_online import TINY

    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"online-{processes}"
        run(processes, "train-online", *TINY, "--use_cpu", "true", "--output_dir", str(out))
        outputs[processes] = out
    one, two = outputs[1], outputs[2]
    summary = json.loads((two / "summary.json").read_text())
    assert len(summary["rounds"]) == 3
    assert summary["rounds"][0] == json.loads((one / "summary.json").read_text())["rounds"][0]
    assert _clips(two / "round-1" / "clips") == _clips(one / "round-1" / "clips")
    assert json.loads((two / "round-1" / "scores.json").read_text()) == json.loads(
        (one / "round-1" / "scores.json").read_text()
    )
    for r in (1, 2):
        done = json.loads((two / f"round-{r}" / "state.json").read_text())["done"]
        assert done == ["generate", "feedback", "score", "data", "train", "judge", "save"]
    assert not list(two.rglob("*.tmp"))
    assert {"model_index.json", "README.md"} <= {p.name for p in (two / "round-2" / "pipeline").iterdir()}


def _two_machines(*argv: str) -> list[subprocess.CompletedProcess]:
    """The same command on two "machines": two launchers on 127.0.0.1, one process each."""
    port = str(_free_port())
    common = [
        "--multi_gpu", "--num_machines", "2", "--num_processes", "2", "--main_process_ip", "127.0.0.1",
        "--main_process_port", port, "--mixed_precision", "no", "--dynamo_backend", "no",
    ]  # fmt: skip
    launchers = [
        subprocess.Popen(
            [str(ACCELERATE), "launch", *common, "--machine_rank", str(rank), "-m", "baton_tta.cli", *argv],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    results = []
    for launcher in launchers:
        stdout, stderr = launcher.communicate(timeout=600)
        assert launcher.returncode == 0, stderr[-4000:]
        results.append(subprocess.CompletedProcess(launcher.args, launcher.returncode, stdout, stderr))
    return results


def test_two_machines_on_loopback_generate_the_one_process_clips_and_train(
    tmp_path, prompts, one_process_clips
):
    out = tmp_path / "clips"
    _two_machines("generate-audio", "--prompts", str(prompts), *GENERATE, "--output_dir", str(out))
    assert _clips(out) == _clips(one_process_clips)
    trained = tmp_path / "trained"
    _two_machines(
        "train", "--pipeline_name_or_path", "tiny-random", "--dataset_name", "tiny-random",
        "--pretrain_dataset_name", "tiny-random", "--builtin_dataset_rows", "8", "--audio_length_s", "1",
        "--max_steps", "2", "--per_device_train_batch_size", "2", "--use_cpu", "true", "--report_to", "none",
        "--save_strategy", "no", "--output_dir", str(trained),
    )  # fmt: skip
    assert (trained / "model_index.json").is_file() and (trained / "README.md").is_file()


def test_train_reward_model_on_two_processes_embeds_each_item_once_and_saves_once(tmp_path):
    recipe = str(ROOT / "recipes" / "reward_tiny.yaml")
    metrics = {}
    for processes in (1, 2):
        out = tmp_path / f"reward-{processes}"
        run(
            processes, "train-reward-model", "--config", recipe, "--dataset_name", "tiny-random",
            "--num_epochs", "5", "--cache_dir", str(tmp_path / f"cache-{processes}"), "--output_dir", str(out),
        )  # fmt: skip
        metrics[processes] = json.loads((out / "reward_metrics.json").read_text())
    assert metrics[1] == metrics[2]  # the same embeddings, so the same head
    entries = {p.name for p in (tmp_path / "cache-2").rglob("*.npy")}
    assert entries == {p.name for p in (tmp_path / "cache-1").rglob("*.npy")}
    assert not list((tmp_path / "cache-2").rglob("*.tmp.npy"))


def test_a_judge_labels_on_two_processes_like_one(tmp_path, one_process_clips):
    """The audio-language-model judge as label-with-reward-model's scorer: every row's P(yes) on two
    processes equals one process's."""
    from baton_tta.tiny import tiny_audio_judge

    judge = tmp_path / "judge"
    model, processor = tiny_audio_judge()
    model.save_pretrained(judge)
    processor.save_pretrained(judge)
    rewards = {}
    for processes in (1, 2):
        out = tmp_path / f"judged-{processes}"
        run(
            processes, "label-with-reward-model", "--dataset", str(one_process_clips / "dataset"),
            "--scorers", f"judge:{judge}", "--batch_size", "4", "--output_dir", str(out),
        )  # fmt: skip
        rewards[processes] = load_from_disk(str(out / "dataset"))["reward"]
    assert len(rewards[1]) == 18 and all(0 < r < 1 for r in rewards[1])
    assert rewards[2] == pytest.approx(rewards[1], abs=1e-6)
