"""The toy loop of the lab (``benchmarks/toy_alignment.py``) at smoke size: each stage hands the next
what it needs, and the whole loop is deterministic and reports every part."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from toy.config import CONDITIONS, ToyLabConfig
from toy.loop import ToyLoop

from baton_tta.data.schema import get_schema, validate_dataset
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.toy.report import ToyLoopResult, save_result
from baton_tta.toy.vocoder import GriffinLimVocoder


def test_loop_smoke_each_stage_output(tmp_path):
    """The benchmark's stages at seconds-long sizes: what each hands to the next has the right form."""

    loop = ToyLoop(ToyLabConfig.smoke(), tmp_path)
    base = loop.pretrain()
    assert isinstance(base, TangoPipeline) and isinstance(base.vocoder, GriffinLimVocoder)
    assert (tmp_path / "base" / "model_index.json").is_file()
    loop.fit_clap()
    train, held_out = loop.prompts()
    assert sorted(train["task"]) == ["integrity"] * 4 + ["temporal"] * 4
    assert not set(train["prompt"]) & set(held_out["prompt"])
    feedback = loop.feedback_data(base, train)
    validate_dataset(feedback, get_schema("binary"), "feedback")
    assert len(feedback) == 8 * 2 and set(feedback["source"]) == {"human", "unlabelled"}
    assert len(loop.truth) == len(feedback) and set(loop.truth) <= {0, 1}
    scored, accuracy = loop.reward_rows(feedback)
    assert set(scored["source"]) == {"reward_model"} and len(scored) == 8
    assert all(0.0 <= r <= 1.0 for r in scored["reward"]) and set(accuracy) == {"integrity", "temporal"}
    tuned = loop.finetune("human + reward-model rows", scored, beta=0.5)
    row = loop.judge("tuned", tuned, held_out)
    for task in ("integrity", "temporal"):
        rate, low, high = row[task]
        assert 0.0 <= low <= rate <= high <= 1.0
    assert -1.0 <= row["clap_score"] <= 1.0
    result = ToyLoopResult([row], accuracy, {"train prompts": 8}, {}, {"stage": 1.0})
    paths = save_result(result, tmp_path)
    assert json.loads(paths["json"].read_text())["rows"][0]["model"] == "tuned"
    assert "| tuned |" in paths["md"].read_text() and paths["png"].stat().st_size > 5000
    assert len(CONDITIONS) == 8 and CONDITIONS["oracle labels (upper bound)"]["rows"] == "oracle"
    oracle = loop.oracle_rows(feedback)
    assert oracle["label"] == loop.truth and set(oracle["source"]) == {"human"}
    assert oracle["reward"] == [float(t) for t in loop.truth]
    pairs, stats = loop.dpo_pairs(feedback)  # by hand: each prompt's best and worst reward-model score
    scores = loop.reward_model.score(list(feedback["prompt"]), loop.waveforms, 16000)
    expected = []
    for start in range(0, len(feedback), 2):
        first, second = scores[start], scores[start + 1]
        if abs(first - second) >= loop.config.dpo_min_margin:
            chosen, rejected = (start, start + 1) if first > second else (start + 1, start)
            expected.append((feedback[start]["prompt"], feedback["seed"][chosen], feedback["seed"][rejected]))
    assert list(zip(pairs["prompt"], pairs["chosen_seed"], pairs["rejected_seed"], strict=True)) == expected
    assert stats.pairs == len(expected) > 0 and stats.pairs + stats.below_margin == 8
    assert isinstance(loop.finetune_dpo("dpo", pairs), TangoPipeline)
    trip = loop.round_trip(base, held_out, (2,))
    assert len(trip) == 1 and trip[0]["latent_error"] >= 0.0 and 0.0 <= trip[0]["agreement"] <= 1.0


def test_whole_loop_smoke_is_deterministic_and_reports_every_part(tmp_path):
    """The smoke loop end to end, twice: the same table, every condition with its paired differences,
    the oracle condition trained on the oracle's own labels, the DPO condition, the round trip and the
    accuracy curve."""

    first = ToyLoop(ToyLabConfig.smoke(), tmp_path / "a").run()
    # the same run again, with the conditions whose clips and trainers differ most (the pretrained
    # stage 0 from scratch included: `test_loop_smoke_each_stage_output` checks each stage's form)
    again = (
        "no feedback (control)",
        "oracle labels (upper bound)",
        "Diffusion-DPO, reward-model-ranked pairs",
    )
    second = ToyLoop(replace(ToyLabConfig.smoke(), conditions=again), tmp_path / "b").run()
    assert [r["model"] for r in first.rows] == ["base (pretrained only)", *CONDITIONS]
    repeated = {r["model"]: r for r in second.rows}
    assert set(repeated) == {"base (pretrained only)", *again}
    for a in first.rows:
        if a["model"] in repeated:
            b = repeated[a["model"]]
            assert a["aligned"] == b["aligned"] and a["clap_score"] == pytest.approx(
                b["clap_score"], abs=1e-6
            )
    assert (
        first.round_trip == second.round_trip and first.reward_accuracy_curve == second.reward_accuracy_curve
    )
    assert first.reward_model_accuracy == second.reward_model_accuracy
    assert [d["model"] for d in first.differences] == list(CONDITIONS)
    control = first.differences[0]
    assert control["integrity - control"] == (0.0, 0.0, 0.0)  # the control against itself
    assert len(first.round_trip) == 1 and len(first.reward_accuracy_curve) == 4
    assert "Paired differences" in first.markdown() and "oracle labels (upper bound)" in first.markdown()
    assert first.data_stats["DPO pairs"] + first.data_stats["DPO prompts under the margin"] <= 8


def test_the_ablations_command_runs_the_conditions_in_the_objectives_world_at_the_given_point(
    tmp_path, monkeypatch
):
    """``toy_alignment.py --world objectives --beta …``: the paper's conditions at a chosen setting,
    in the world where both tasks can move (what the lab README's ablation table was measured with).
    The script runs as ``__main__`` in this process, from its folder, with its own argv."""
    import json
    import runpy
    import sys
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parents[2]
    argv = [
        "toy_alignment.py", "--smoke", "--world", "objectives", "--beta", "2",
        "--finetune_learning_rate", "3e-4", "--conditions", "no feedback (control)", "human rows",
        "--output_dir", str(tmp_path),
    ]  # fmt: skip
    monkeypatch.chdir(benchmarks)
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(benchmarks / "toy_alignment.py"), run_name="__main__")
    report = json.loads((tmp_path / "toy_alignment.json").read_text())
    assert [row["model"] for row in report["rows"]] == [
        "base (pretrained only)",
        "no feedback (control)",
        "human rows",
    ]
    assert report["config"]["beta"] == 2.0 and report["config"]["finetune_learning_rate"] == 3e-4
    assert report["config"]["group_sizes"]["temporal"] == [2]  # two ordered events: the objectives world
    assert [d["model"] for d in report["differences"]] == ["no feedback (control)", "human rows"]
