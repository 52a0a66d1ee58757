"""The main job (``baton-tta toy-demo``, ``make demo``) and the pretrained toy world it starts from."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from baton_tta.toy.pretrained import load_toy_clap, load_toy_tango, toy_tango_path


def test_shipped_toy_tango_renders_the_events_it_is_asked_for():
    """The shipped weights are the pretrained toy TANGO, not a random one: the oracle hears the named
    events in most of its clips (a random pipeline's clips hold none of them)."""
    import torch
    from diffusers import DDIMScheduler

    from baton_tta.tiny import tiny_tango_pipeline
    from baton_tta.toy.datasets import toy_prompt_pool
    from baton_tta.toy.events import get_event
    from baton_tta.toy.oracle import OracleAnnotator

    oracle = OracleAnnotator()
    pool = toy_prompt_pool("integrity", (2,), seed=0).select(range(4))
    prompts = dict(zip(pool["prompt"], pool["events"], strict=True))

    def heard(pipeline) -> float:
        pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
        clips = pipeline(
            list(prompts),
            audio_length_in_s=1.0,
            num_inference_steps=10,
            num_waveforms_per_prompt=3,
            generator=torch.Generator().manual_seed(0),
        ).audios
        found = [
            np.mean([oracle.detect(clip)[get_event(event).name].present for event in events])
            for clip, events in zip(clips, [e for e in prompts.values() for _ in range(3)], strict=True)
        ]
        return float(np.mean(found))

    assert heard(load_toy_tango()) >= 0.6
    assert heard(tiny_tango_pipeline()) <= 0.2
    clap, extractor = load_toy_clap()
    assert clap.config.audio_config.num_mel_bins == 32 and extractor.feature_size == 32
    assert not (toy_tango_path() / "pipeline_tango.py").exists()  # the package's class loads it


@pytest.mark.slow
def test_toy_demo_smoke_prints_every_row_against_the_base_and_saves_the_pipelines(tmp_path, capsys):
    import json

    from diffusers import DiffusionPipeline
    from huggingface_hub import ModelCard

    from baton_tta.cli import main
    from baton_tta.toy.demo import BASE, BATON_ROW, KTO_ROW, PIPELINE_DIRS

    assert main(["toy-demo", "--smoke", "true", "--output_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "This is the toy world" in out
    interval = r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]"
    table = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    models = [line.split(" | ")[0].removeprefix("| ") for line in table[:3]]
    assert models == [BASE, BATON_ROW, KTO_ROW]  # the table: base first, then each fine-tune
    for line in table[:3]:
        assert re.fullmatch(rf"\| .+ \| {interval} \| {interval} \| -?\d\.\d{{3}} \|", line), line
    signed = r"[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]"
    assert [line.split(" | ")[0].removeprefix("| ") for line in table[3:5]] == [BATON_ROW, KTO_ROW]
    for line in table[3:5]:
        assert re.fullmatch(rf"\| .+ \| {signed} \| {signed} \|", line), line
    # one verdict per fine-tuned row and task, read from the same paired intervals
    verdict = r"(beats|level with|below) the base \([+-]\d+\.\d points \[[+-]\d+\.\d, [+-]\d+\.\d\]\)"
    for model in (BATON_ROW, KTO_ROW):
        assert re.search(rf"^{re.escape(model)}: integrity {verdict}; temporal {verdict}$", out, re.M), model
    assert "integrity − base" in out and "trust_remote_code=True" in out
    # every row was judged on the same prompts with the same clip seeds
    rows = json.loads((tmp_path / "toy_demo.json").read_text())["rows"]
    assert [row["model"] for row in rows] == [BASE, BATON_ROW, KTO_ROW]
    assert all(row["judged"] == rows[0]["judged"] for row in rows)
    assert all(len(rows[0]["judged"][task]) == 2 for task in ("integrity", "temporal"))
    assert len({seed for _, seeds in rows[0]["judged"]["integrity"] for seed in seeds}) == 4
    assert (tmp_path / "toy_demo.md").is_file() and (tmp_path / "toy_demo.png").stat().st_size > 5000
    for model, name in PIPELINE_DIRS.items():
        card = ModelCard.load(tmp_path / name / "README.md")
        assert "toy world" in card.text and "toy-world" in card.data.tags and model in card.text
        assert {r.metric_name for r in card.data.eval_results} == {
            "integrity aligned (oracle)",
            "temporal aligned (oracle)",
            "CLAP score (toy CLAP)",
        }
        judged = next(row for row in rows if row["model"] == model)
        values = {r.metric_name: r.metric_value for r in card.data.eval_results}
        assert values["integrity aligned (oracle)"] == pytest.approx(judged["integrity"][0], abs=1e-4)
        assert values["CLAP score (toy CLAP)"] == pytest.approx(judged["clap_score"], abs=1e-4)
    folder = tmp_path / PIPELINE_DIRS[BATON_ROW]
    pipe = DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)
    clip = pipe("a hum sounds", audio_length_in_s=1.0, num_inference_steps=2).audios[0]
    assert clip.shape == (16000,) and np.abs(clip).max() > 1e-3
    # a fresh process that imports nothing of baton_tta: the vocoder's code ships in its folder
    fresh = (
        "from diffusers import DiffusionPipeline; import sys; "
        f"p = DiffusionPipeline.from_pretrained({str(folder)!r}, trust_remote_code=True); "
        "print(type(p.vocoder).__name__, p('a hum sounds', audio_length_in_s=1.0, num_inference_steps=2).audios[0].shape, "
        "any(m.startswith('baton_tta') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-3:] == ["GriffinLimVocoder", "(16000,)", "False"]


def test_verdicts_read_the_paired_intervals():
    from baton_tta.toy.demo import verdicts
    from baton_tta.toy.report import ToyLoopResult

    differences = [
        {"model": "a", "integrity - base": (0.05, 0.01, 0.09), "temporal - base": (0.0, -0.02, 0.02)},
        {"model": "b", "integrity - base": (-0.05, -0.09, -0.01), "temporal - base": (0.01, 0.0, 0.03)},
    ]
    lines = verdicts(ToyLoopResult([], {}, {}, {}, differences=differences))
    assert lines == [
        "a: integrity beats the base (+5.0 points [+1.0, +9.0]); temporal level with the base (+0.0 points [-2.0, +2.0])",
        "b: integrity below the base (-5.0 points [-9.0, -1.0]); temporal level with the base (+1.0 points [+0.0, +3.0])",
    ]


def test_paired_differences_refuse_rows_judged_on_other_clips():
    from baton_tta.toy.statistics import paired_differences

    flags = {"integrity": [[True, False]], "temporal": [[False, False]]}
    judged = {"integrity": [("a bell", [1, 2])], "temporal": [("a bell, then hiss", [3, 4])]}
    base = {"model": "base", "aligned": flags, "judged": judged}
    moved = {**base, "model": "tuned", "judged": {**judged, "integrity": [("a bell", [5, 6])]}}
    assert paired_differences([base], {"base": base}, 10, 0)[0]["integrity - base"][0] == 0.0
    with pytest.raises(ValueError, match="'tuned' and 'base' were judged on different prompts or clip seeds"):
        paired_differences([moved], {"base": base}, 10, 0)


def test_a_second_demo_into_the_same_folder_is_refused_before_any_work_or_clears_it(tmp_path):
    from baton_tta.cli import main
    from baton_tta.toy.demo import prepare_demo_dir

    (tmp_path / "toy_demo.json").write_text("{}")
    with pytest.raises(SystemExit, match="holds an earlier run's files; choose another --output_dir"):
        main(["toy-demo", "--smoke", "true", "--output_dir", str(tmp_path)])
    assert (tmp_path / "toy_demo.json").read_text() == "{}"  # nothing was touched
    prepare_demo_dir(tmp_path, overwrite=True)
    assert list(tmp_path.iterdir()) == []  # the earlier run's files gone; the folder (and a run's lock) kept
    prepare_demo_dir(tmp_path / "new")  # a new folder is fine
