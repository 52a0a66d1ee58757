"""The dose map of BATON's Eq. 7 (benchmarks/toy_dose.py) at smoke size: every grid point and
variation is trained without the validation prompts and judged on them against the base (paired on
the same flags), the verdicts follow the intervals, and the table and plot are written."""

from __future__ import annotations

import json

from toy.dose import ToyDose, ToyDoseConfig, save_dose_result, verdict

from baton_tta.toy.statistics import paired_difference


def test_verdicts_follow_the_intervals():
    level = {"integrity": (0.01, -0.02, 0.04), "temporal": (0.0, -0.01, 0.01)}
    assert verdict(level, 0.2, 0.2) == "level"
    assert verdict({**level, "integrity": (0.05, 0.01, 0.09)}, 0.2, 0.2) == "beats the base"
    assert verdict({**level, "temporal": (-0.05, -0.09, -0.01)}, 0.2, 0.2) == "below the base"
    assert verdict(level, 0.5, 0.2) == "collapses"  # unnamed events up by half and more


def test_dose_smoke_maps_every_point_on_validation_prompts(tmp_path, monkeypatch):
    config = ToyDoseConfig.smoke()
    dose = ToyDose(config, tmp_path)
    trained_on: list[set[str]] = []
    fine_tune = dose.lab.fine_tune

    def recording(run, spec, rows, settings):
        trained_on.append(set(rows[spec["rows"]]["prompt"]))
        return fine_tune(run, spec, rows, settings)

    monkeypatch.setattr(dose.lab, "fine_tune", recording)
    judged = []
    quick_judge = dose.lab.quick_judge
    monkeypatch.setattr(
        dose.lab,
        "quick_judge",
        lambda name, p, prompts: judged.append(quick_judge(name, p, prompts)) or judged[-1],
    )
    result = dose.run()
    validation = set(dose.lab.validation_split(dose.lab.loop.prompts()[0])["prompt"])
    assert all(not prompts & validation for prompts in trained_on)  # never trained on the judge's prompts
    assert [p["settings"] for p in result.points] == [
        {"max_steps": 1, "learning_rate": 1e-4},
        {"max_steps": 2, "learning_rate": 1e-4},
        {
            **result.points[0 if result.points[0] is max(result.points[:2], key=_mean) else 1]["settings"],
            "beta": 0.0,
        },
    ]
    base = judged[0]
    for point, row in zip(result.points, judged[1:], strict=True):  # each against the base, paired
        for task in ("integrity", "temporal"):
            expected = paired_difference(row["aligned"][task], base["aligned"][task], 50, 0)
            assert point[f"{task} - base"] == expected
    paths = save_dose_result(result, tmp_path / "report")
    assert json.loads(paths["json"].read_text())["points"][0]["labels"] == "oracle"
    assert "| oracle labels | max_steps 1, learning_rate 0.0001 |" in paths["md"].read_text()
    assert paths["png"].stat().st_size > 5000


def _mean(point: dict) -> float:
    return (point["integrity - base"][0] + point["temporal - base"][0]) / 2
