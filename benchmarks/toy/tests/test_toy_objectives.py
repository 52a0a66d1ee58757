"""The objectives comparison in the toy world (benchmarks/toy_objectives.py), at smoke size: the
grid search never trains on its validation prompts, every objective is judged on the same held-out
prompts, and the table, search and label curve are what the run measured."""

from __future__ import annotations

import json
import re

from datasets import Dataset
from toy.objectives import (
    BATON,
    ORACLE,
    ToyObjectives,
    ToyObjectivesConfig,
    grid_points,
    save_objectives_result,
)


def test_grid_points_are_every_combination_in_order():
    assert grid_points({"a": (1.0, 2.0), "b": (3.0,)}) == [{"a": 1.0, "b": 3.0}, {"a": 2.0, "b": 3.0}]


def test_rows_of_validation_prompts_are_left_out():
    rows = {"pairs": Dataset.from_dict({"prompt": ["p", "q", "p"], "x": [1, 2, 3]})}
    kept = ToyObjectives.without_prompts(rows, {"p"})
    assert kept["pairs"]["x"] == [2]


def test_objectives_smoke_searches_on_validation_prompts_and_judges_every_objective(tmp_path, monkeypatch):
    config = ToyObjectivesConfig.smoke()
    config.objectives = (BATON, "Diffusion-KTO", ORACLE)
    comparison = ToyObjectives(config, tmp_path)
    validation = set(comparison.validation_split(comparison.loop.prompts()[0])["prompt"])
    assert len(validation) == 2  # one per task
    trained_on: list[tuple[str, set[str], dict]] = []
    fine_tune = comparison.fine_tune

    def spy(run, spec, rows, settings):
        trained_on.append((run, set(rows[spec["rows"]]["prompt"]), settings))
        return fine_tune(run, spec, rows, settings)

    monkeypatch.setattr(comparison, "fine_tune", spy)
    result = comparison.run()
    searched = [(run, prompts) for run, prompts, _ in trained_on if " search " in run]
    assert len(searched) == len(result.search) == 3  # one grid point each at smoke size
    assert all(not prompts & validation for _, prompts in searched)
    finals = {
        run: prompts
        for run, prompts, _ in trained_on
        if " search " not in run and not re.search(r" labels \d+$", run)
    }
    assert set(finals) == {BATON, "Diffusion-KTO", ORACLE} and all(validation <= p for p in finals.values())
    assert [row["model"] for row in result.table.rows] == [
        "base (pretrained only)",
        BATON,
        "Diffusion-KTO",
        ORACLE,
    ]
    assert result.chosen[ORACLE] == result.chosen[BATON] == {"learning_rate": 1e-4}  # a 1-point grid
    assert {"integrity - base", "temporal - BATON"} <= set(result.table.differences[0])
    assert all(0.0 <= row["unnamed_event_rate"] <= 1.0 for row in result.table.rows)
    labels = [point["labels"] for point in result.curve]
    assert len(labels) == 2 and labels[0] < labels[1] == result.table.data_stats["human rows (1/0)"]
    paths = save_objectives_result(result, tmp_path)
    markdown = paths["md"].read_text()
    assert "Grid search" in markdown and paths["png"].stat().st_size > 0
    precision = markdown.split("Precision of each paired difference")[1].split("\n\n")[1].splitlines()[2:]
    assert [line.split(" | ")[:2] for line in precision] == [
        [f"| {name}", task] for name in (BATON, "Diffusion-KTO", ORACLE) for task in ("integrity", "temporal")
    ]
    assert json.loads(paths["json"].read_text())["chosen"]["Diffusion-KTO"] == {
        "kto_beta": 300.0,
        "learning_rate": 1e-4,
    }


def test_objectives_smoke_is_deterministic(tmp_path):
    """Same command, same table: two smoke runs judge every clip the same and search the same way."""
    config = ToyObjectivesConfig.smoke()
    config.objectives = ("Diffusion-DPO",)
    first = ToyObjectives(config, tmp_path / "a").run()
    second = ToyObjectives(config, tmp_path / "b").run()
    assert [r["aligned"] for r in first.table.rows] == [r["aligned"] for r in second.table.rows]
    assert first.search == second.search and first.chosen == second.chosen
    keys = ("integrity", "temporal", "clap_score", "unnamed_event_rate")
    assert [[r[k] for k in keys] for r in first.table.rows] == [
        [r[k] for k in keys] for r in second.table.rows
    ]
    assert first.curve == second.curve and first.table.differences == second.table.differences
