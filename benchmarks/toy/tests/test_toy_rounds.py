"""The rounds comparison's smoke run: every condition spends the same clip and step budgets, each
round is judged on the same held-out clips, the feedback condition (and only it) retrains its reward
model, and the report has the structure the README's table is read from."""

from __future__ import annotations

import pytest
from toy.rounds import ONE_ROUND, ROUND_CONDITIONS, ToyRounds, ToyRoundsConfig, save_rounds_result


@pytest.mark.slow
def test_rounds_smoke_spends_equal_budgets_and_reports_every_round(tmp_path):
    config = ToyRoundsConfig.smoke()
    config.loop.threads = 1
    result = ToyRounds(config, tmp_path).run()
    paths = save_rounds_result(result, tmp_path)

    names = [row["model"] for row in result.table.rows]
    assert names[0] == "base (pretrained only)" and names[1] == ONE_ROUND
    assert len(names) == 1 + sum(spec["rounds"] for spec in ROUND_CONDITIONS.values())
    last = {}
    for entry in result.rounds:
        last[entry["condition"]] = entry
        assert set(entry["reward_accuracy"]) == {"integrity", "temporal"}
        assert 0.0 <= entry["reward_mean"] <= 1.0
    assert {e["clips_per_prompt"] for e in last.values()} == {config.clips_per_prompt_budget}
    runs = ToyRounds(config, tmp_path / "unused")
    for name, spec in ROUND_CONDITIONS.items():
        args = runs.online_config(name, spec)
        assert args.max_steps * spec["rounds"] == config.steps_budget
        assert args.clips_per_prompt * spec["rounds"] == config.clips_per_prompt_budget
        folder = tmp_path / name.replace(" ", "-").replace(",", "").replace("+", "and")
        has_feedback = (folder / "round-1" / "feedback" / "reward_model" / "model.safetensors").is_file()
        assert has_feedback == bool(spec.get("feedback")), name
        assert len(list(folder.glob("round-*/pipeline/model_index.json"))) == spec["rounds"]
    one_round = next(d for d in result.table.differences if d["model"] == ONE_ROUND)
    assert one_round["integrity - 1 round"] == (0.0, 0.0, 0.0)  # paired with itself
    markdown = paths["md"].read_text()
    assert "| condition | round | clips per prompt so far |" in markdown and "integrity − 1 round" in markdown
    assert paths["png"].stat().st_size > 5000


def test_budgets_must_split_evenly_over_rounds(tmp_path):
    config = ToyRoundsConfig.smoke()
    config.steps_budget = 4
    with pytest.raises(ValueError, match="split evenly over 3 rounds"):
        ToyRounds(config, tmp_path).online_config("BATON, 3 rounds", ROUND_CONDITIONS["BATON, 3 rounds"])
