"""Online rounds: two tiny toy rounds end to end, resume after SIGKILL inside a round and between
rounds, DPO pairs against a ranking by hand, human feedback between rounds (the run waits for labels,
then retrains the reward model), the reward-hacking guard, the Hub layout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import load_in_a_fresh_process, run_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "trainers" / "train_online.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "TQDM_DISABLE": "1"}
TINY = [
    "--config",
    str(ROOT / "recipes" / "online_toy.yaml"),
    "--num_rounds",
    "2",
    "--toy_prompts_per_task",
    "2",
    "--toy_eval_prompts_per_task",
    "2",
    "--clips_per_prompt",
    "2",
    "--eval_clips_per_prompt",
    "1",
    "--num_inference_steps",
    "2",
    "--max_steps",
    "4",
    "--save_steps",
    "2",
    "--per_device_train_batch_size",
    "4",
    "--pretrain_rows",
    "8",
    "--toy_reward_prompts",
    "8",
    "--warmup_steps",
    "0",
]


def _run(output_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_script(SCRIPT, [*TINY, "--output_dir", output_dir, *extra], ENV)


def _kill_when(output_dir: Path, ready) -> None:
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *TINY, "--output_dir", str(output_dir)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not ready() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the kill point"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def _done(output_dir: Path, r: int) -> list[str]:
    path = output_dir / f"round-{r}" / "state.json"
    try:
        return json.loads(path.read_text())["done"]
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def _tango_family():
    from baton_tta.families import family_of
    from baton_tta.tiny import tiny_pipeline

    return family_of(tiny_pipeline("TangoPipeline"))


def _metrics(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / "summary.json").read_text())["rounds"]


@pytest.mark.slow
def test_two_rounds_resume_after_kills_inside_and_between_rounds(tmp_path, capsys, caplog):
    """The uninterrupted reference and the resume run in this process (one thread, as the killed runs):
    only the kills need a process of their own."""
    from baton_tta.cli import main

    reference = tmp_path / "reference"
    assert main(["train-online", *TINY, "--output_dir", str(reference)]) == 0
    printed = capsys.readouterr().out
    rounds = _metrics(reference)
    assert len(rounds) == 3 and {
        "oracle_integrity",
        "oracle_temporal",
        "clap_score",
        "reward_mean_eval",
    } <= set(rounds[1])
    assert "| round |" in printed and (reference / "rounds.png").stat().st_size > 5000
    card = (reference / "README.md").read_text()
    assert "| 2 |" in card and "rounds.png" in card and "All rounds ran." in card
    for r in (1, 2):
        folder = reference / f"round-{r}"
        assert _done(reference, r) == ["generate", "feedback", "score", "data", "train", "judge", "save"]
        assert {"model_index.json", "README.md"} <= {p.name for p in (folder / "pipeline").iterdir()}
        assert "held-out prompts" in (folder / "pipeline" / "README.md").read_text()
    # a round's pipeline (as pushed to its branch) loads in a fresh process that imports no baton_tta:
    # the toy vocoder's code ships in its folder
    assert load_in_a_fresh_process(reference / "round-2" / "pipeline", ENV) == ["GriffinLimVocoder", "False"]

    run = tmp_path / "run"
    # inside round 1: killed while training, after a checkpoint
    _kill_when(run, lambda: any((run / "round-1" / "train").glob("checkpoint-2/trainer_state.json")))
    assert _done(run, 1)[:4] == ["generate", "feedback", "score", "data"] and "train" not in _done(run, 1)
    shards = {p: p.stat().st_mtime_ns for p in (run / "round-1" / "clips" / "shards").iterdir()}
    # between rounds: killed once round 1 is complete
    _kill_when(run, lambda: "save" in _done(run, 1))
    assert {p: p.stat().st_mtime_ns for p in (run / "round-1" / "clips" / "shards").iterdir()} == shards
    caplog.set_level("INFO", logger="baton_tta.online")
    assert main(["train-online", *TINY, "--output_dir", str(run)]) == 0
    assert "round 1: already complete" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in (run / "round-1" / "clips" / "shards").iterdir()} == shards
    for expected, got in zip(rounds, _metrics(run), strict=True):
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == pytest.approx(expected[key], abs=1e-4), key


@pytest.mark.slow
def test_dpo_round_pairs_are_the_ranking_by_hand(tmp_path):
    from datasets import load_from_disk

    out = tmp_path / "dpo"
    _run(
        out,
        "--objective",
        "dpo",
        "--num_rounds",
        "1",
        "--min_reward_margin",
        "0.0",
        "--clips_per_prompt",
        "3",
    )
    clips = load_from_disk(str(out / "round-1" / "clips" / "dataset"))
    scores = json.loads((out / "round-1" / "scores.json").read_text())
    expected = []
    for start in range(0, len(clips), 3):
        group = list(range(start, start + 3))
        best = max(group, key=lambda i: (scores[i], -i))
        worst = min(group, key=lambda i: (scores[i], i))
        if scores[best] > scores[worst]:
            expected.append((clips[start]["prompt"], clips["seed"][best], clips["seed"][worst]))
    pairs = load_from_disk(str(out / "round-1" / "data"))
    assert list(zip(pairs["prompt"], pairs["chosen_seed"], pairs["rejected_seed"], strict=True)) == expected
    assert len(expected) >= 1
    assert (
        "Diffusion-DPO" in (out / "round-1" / "pipeline" / "README.md").read_text()
        or "dpo" in (out / "README.md").read_text()
    )


@pytest.mark.slow
def test_feedback_round_waits_for_labels_then_retrains_the_reward_model(tmp_path):
    from datasets import load_from_disk

    from baton_tta.annotate import ClipSet, LabelStore, clip_id_for, export_annotations, write_export
    from baton_tta.toy.online import rendered_labels

    out = tmp_path / "feedback"
    extra = ("--num_rounds", "1", "--feedback_clips_per_round", "4")
    waiting = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--output_dir", str(out), *extra],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    feedback = out / "round-1" / "feedback"
    assert waiting.returncode == 75, waiting.stderr[-3000:]
    assert f"baton-tta annotate --dataset {feedback / 'clips'}" in waiting.stderr
    assert _done(out, 1) == ["generate"] and not (out / "round-1" / "scores.json").exists()

    # a person labels the sample in the app's store (one skip), and the labels are exported
    clips = ClipSet.load(str(feedback / "clips"))
    assert len(clips) == 4
    votes = dict(zip(clips.clip_ids, [1, 0, -1, 0], strict=True))
    store = LabelStore(feedback / "labels.sqlite", app_version="test")
    for clip_id, label in votes.items():
        store.add(clip_id, "ada", label)
    write_export(*export_annotations(clips, store), feedback / "labels")

    _run(out, *extra)
    assert _done(out, 1) == ["generate", "feedback", "score", "data", "train", "judge", "save"]
    initial = rendered_labels(8, 0)  # the toy reward model's first labels (--toy_reward_prompts 8)
    initial_usable = sum(label in (0, 1) for label in initial["label"])
    trained = json.loads((feedback / "reward_model" / "reward_metrics.json").read_text())
    assert trained["train_rows"] + trained["validation_rows"] == initial_usable + 3
    data = load_from_disk(str(out / "round-1" / "data")).with_format(None)
    human = {
        clip_id_for(row["prompt"], row["audio"]): row["reward"] for row in data if row["source"] == "human"
    }
    assert human == {clip_id: float(v) for clip_id, v in votes.items() if v >= 0}
    assert all(
        row["source"] == "reward_model"
        for row in data
        if clip_id_for(row["prompt"], row["audio"]) not in human
    )


def test_feedback_labels_of_another_sample_are_refused(tmp_path):
    from baton_tta.online.feedback import FeedbackPending, feedback_sample, load_round_labels, training_labels
    from baton_tta.toy.datasets import toy_preference_dataset

    clips = toy_preference_dataset(num_prompts=4, clips_per_prompt=2, seed=0)
    sample = feedback_sample(clips, 3, seed=5)
    assert len(sample) == 3 and sample["seed"] == sorted(sample["seed"])  # in the clips' order
    assert feedback_sample(clips, 3, seed=5)["seed"] == sample["seed"]  # seeded
    with pytest.raises(FeedbackPending, match="baton-tta export-labels"):
        load_round_labels(tmp_path, sample, labeller=None)
    other = toy_preference_dataset(num_prompts=3, clips_per_prompt=1, seed=9)
    with pytest.raises(ValueError, match="3 labelled row\\(s\\) are not clips of this round's sample"):
        load_round_labels(tmp_path, sample, labeller=lambda _: other)
    assert not (tmp_path / "labels").exists()  # refused labels are not kept
    labelled = load_round_labels(tmp_path, sample, labeller=lambda rows: rows)
    assert labelled["source"] == ["human"] * 3 and (tmp_path / "labels").is_dir()
    merged = training_labels(clips, [sample.add_column("votes", [[1]] * 3)])
    assert len(merged) == 11 and "votes" not in merged.column_names


def test_reward_hacking_guard():
    from baton_tta.online.runner import reward_hacking_reason

    def rounds(judge, reward):
        return [{"oracle": j, "reward_mean_eval": r} for j, r in zip(judge, reward, strict=True)]

    rising = [0.5, 0.6, 0.7, 0.8]
    assert reward_hacking_reason(rounds([0.3, 0.4, 0.5, 0.6], rising), "oracle", 2) is None  # both rise
    reason = reward_hacking_reason(rounds([0.3, 0.5, 0.45, 0.4], rising), "oracle", 2)
    assert reason and "has not improved for 2 round(s)" in reason and "best 0.5000" in reason
    assert reward_hacking_reason(rounds([0.3, 0.5, 0.45, 0.4], [0.5, 0.6, 0.55, 0.5]), "oracle", 2) is None
    assert reward_hacking_reason(rounds([0.3, 0.5, 0.45, 0.4], rising), "oracle", 0) is None  # off
    assert reward_hacking_reason(rounds([0.3, 0.2], rising[:2]), "oracle", 2) is None  # too few rounds
    with pytest.raises(ValueError, match="judge_metric 'clap'"):
        reward_hacking_reason(rounds([0.3, 0.2, 0.1], rising[:3]), "clap", 1)


def test_online_config_checks_and_round_args(tmp_path):
    from baton_tta.online import OnlineConfig
    from baton_tta.trainer import DiffusionDPOConfig, RewardWeightedDiffusionConfig

    with pytest.raises(ValueError, match="objective"):
        OnlineConfig(output_dir=str(tmp_path), objective="ppo")
    with pytest.raises(ValueError, match="clips_per_prompt must be at least 2"):
        OnlineConfig(output_dir=str(tmp_path), objective="dpo", clips_per_prompt=1)
    config = OnlineConfig(
        output_dir=str(tmp_path),
        objective="dpo",
        objective_args='{"dpo_beta": 7.0}',  # from the command line: JSON
        max_steps=3,
        learning_rate=1e-3,
        push_to_hub=True,
    )
    args = config.round_training_args(tmp_path / "round-1" / "train")
    assert isinstance(args, DiffusionDPOConfig) and not isinstance(args, OnlineConfig)
    assert (args.dpo_beta, args.max_steps, args.learning_rate, args.push_to_hub) == (7.0, 3, 1e-3, False)
    assert config.round_seed(1) == 0 and config.round_seed(3) == 2 * 1_000_003
    baton = OnlineConfig(output_dir=str(tmp_path), beta=0.25).round_training_args(tmp_path / "t")
    assert type(baton) is RewardWeightedDiffusionConfig and baton.beta == 0.25


def test_rounds_go_to_one_repo_with_a_branch_each(tmp_path, loopback_hub):
    from datasets import Dataset
    from huggingface_hub import HfApi

    from baton_tta.online import OnlineConfig
    from baton_tta.online.report import push_round, write_run_report

    config = OnlineConfig(
        output_dir=str(tmp_path), push_to_hub=True, hub_model_id="baton/online", report_to="none"
    )
    history = [{"clap_score": 0.5, "reward_mean_eval": 0.4}]
    for r in (1, 2):
        folder = tmp_path / f"round-{r}"
        (folder / "pipeline" / "unet").mkdir(parents=True)
        (folder / "pipeline" / "model_index.json").write_text(json.dumps({"round": r}))
        (folder / "pipeline" / "unet" / "config.json").write_text("{}")
        (folder / "pipeline" / "README.md").write_text(f"round {r} card")
        (folder / "metrics.json").write_text(json.dumps({"clap_score": 0.5 + r / 10}))
        Dataset.from_dict({"prompt": [f"p{r}"], "reward": [0.5]}).save_to_disk(str(folder / "data"))
        push_round(folder, r, config)
        history.append({"clap_score": 0.5 + r / 10, "reward_mean_eval": 0.4 + r / 10})
    (tmp_path / "summary.json").write_text(json.dumps({"rounds": history}))
    write_run_report(tmp_path, {"rounds": history, "stopped_early": None}, config, _tango_family())
    api = HfApi()
    for r in (1, 2):
        files = set(api.list_repo_files("baton/online", revision=f"round-{r}"))
        assert {
            "model_index.json",
            "unet/config.json",
            "README.md",
            "metrics.json",
            f"data/round-{r}.parquet",
        } <= files
        index = api.hf_hub_download(
            "baton/online", "model_index.json", revision=f"round-{r}", cache_dir=tmp_path / "c"
        )
        assert json.loads(Path(index).read_text()) == {"round": r}
    main = set(api.list_repo_files("baton/online"))
    assert {
        "README.md",
        "rounds.png",
        "summary.json",
        "model_index.json",
    } <= main and "metrics.json" not in main
    card = Path(api.hf_hub_download("baton/online", "README.md", cache_dir=tmp_path / "c")).read_text()
    assert "| 2 | 0.7 | 0.6 |" in card and "online-rounds" in card
    # a run the guard stopped rolls back: main gets the best round's pipeline, and the card says so
    stopped = {"rounds": history, "stopped_early": "the judge fell", "rolled_back_to": 1}
    write_run_report(tmp_path, stopped, config, _tango_family())
    index = api.hf_hub_download("baton/online", "model_index.json", cache_dir=tmp_path / "c2")
    assert json.loads(Path(index).read_text()) == {"round": 1}
    card = Path(api.hf_hub_download("baton/online", "README.md", cache_dir=tmp_path / "c2")).read_text()
    assert "Rolled back: the run's result is round 1's pipeline" in card


@pytest.mark.slow
def test_resume_refuses_other_defining_settings_and_may_extend_the_rounds(tmp_path):
    """Found by the third trust pass: a killed run resumed with another ``--clips_per_prompt`` mixed 2-
    and 3-clip rounds, and re-running a finished BATON run with ``--objective dpo`` rewrote its card."""
    from baton_tta.cli import main

    out = tmp_path / "run"
    argv = ["train-online", *TINY, "--output_dir", str(out), "--num_rounds", "1", "--max_steps", "2"]
    assert main(argv) == 0
    card = (out / "README.md").read_text()
    from baton_tta.tiny import tiny_reward_model

    tiny_reward_model(seed=3).save_pretrained(tmp_path / "another-rm")
    for extra, named in (
        # found by the fourth trust pass: both resumed, optimising or reporting something else
        (["--reward_model_name_or_path", str(tmp_path / "another-rm")], r"reward \{.*another-rm"),
        (["--judge_scorers", "toy-oracle"], r"judges \[.*'toy-oracle'"),
        (["--clips_per_prompt", "3"], r"clips_per_prompt: 2 → 3"),
        (["--objective", "dpo"], r"objective: 'baton' → 'dpo'"),
        (["--max_steps", "3"], r"max_steps: 2 → 3"),
    ):
        with pytest.raises(ValueError, match=rf"differ from the run being resumed: .*{named}"):
            main([*argv, *extra])
        assert (out / "README.md").read_text() == card
    assert main([*argv, "--num_rounds", "2", "--prompts_per_batch", "2"]) == 0  # extends the run
    assert json.loads((out / "summary.json").read_text())["objective"] == "baton"
    assert _done(out, 2) == ["generate", "feedback", "score", "data", "train", "judge", "save"]


def test_an_online_run_card_carries_the_trained_familys_licence_and_tags(tmp_path):
    """The online run card wrote TANGO's licence and tag whatever family trained (two sources of
    truth for a licence): it now takes the family's."""
    from baton_tta.families import family_of
    from baton_tta.online import OnlineConfig
    from baton_tta.online.report import write_run_report
    from baton_tta.tiny import tiny_pipeline

    history = [
        {"oracle_integrity": 0.3, "reward_mean_eval": 0.5},
        {"oracle_integrity": 0.4, "reward_mean_eval": 0.6},
    ]
    summary = {"rounds": history, "stopped_early": None, "objective": "baton"}
    args = OnlineConfig(output_dir=str(tmp_path), use_cpu=True, num_rounds=1, judge_metric="oracle_integrity")
    for name, licence, tag in (
        ("StableAudioPipeline", "other", "stable-audio"),
        ("StableAudio3Pipeline", "other", "stable-audio"),
        ("TangoPipeline", "cc-by-nc-sa-4.0", "tango"),
    ):
        family = family_of(tiny_pipeline(name))
        card = write_run_report(tmp_path, summary, args, family)
        assert card.data.license == family.license == licence
        assert tag in card.data.tags and set(family.hub_tags) <= set(card.data.tags)
        assert ("tango" in card.data.tags) == (name == "TangoPipeline")
