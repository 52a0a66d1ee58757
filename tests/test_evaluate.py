"""evaluate.py end to end on the tiny pipeline and tiny backbones; metrics land in a Hub card."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from datasets import Dataset

from baton_tta.metrics.evaluation import (
    compute_metrics,
    embed_clips,
    push_metrics_to_card,
    stand_in_note,
    table4_markdown,
)
from baton_tta.tiny import tiny_backbones
from helpers import sine

ROOT = Path(__file__).resolve().parents[1]


def _eval_set(tmp_path, n=10):
    ids = [f"cap{i}" for i in range(n)]
    Dataset.from_dict(
        {"audiocap_id": ids, "prompt": [f"a dog barks then rain falls {i}" for i in range(n)]}
    ).save_to_disk(str(tmp_path / "eval_set"))
    (tmp_path / "refs").mkdir()
    for i, clip in enumerate(ids):
        sf.write(tmp_path / "refs" / f"{clip}.wav", sine(22050, 1.0, 200 + 150 * i), 22050)
    return ids


def test_each_clip_is_embedded_once_and_metrics_are_consistent():
    backbones = tiny_backbones()
    waves = [sine(16000, 1.0, 300 + 100 * i) for i in range(10)]
    ids = [str(i) for i in range(10)]
    embedded = embed_clips(ids, waves, backbones)
    assert embedded.counts == {"cnn14": 10, "vggish": 10, "clap": 10}
    assert embedded.panns_embedding.shape == (10, 32) and embedded.panns_logits.shape == (10, 10)
    assert embedded.vggish_frames.shape == (10, 12) and embedded.clap_audio.shape == (10, 32)
    same = compute_metrics(embedded, ["x"] * 10, backbones, reference=embedded)
    assert abs(same["FD"]) < 1e-4 and abs(same["FAD"]) < 1e-4 and abs(same["KL"]) < 1e-4
    assert same["IS"] >= 1.0 and -1.0 <= same["CLAP"] <= 1.0
    no_reference = compute_metrics(embedded, ["x"] * 10, backbones)
    assert no_reference["FD"] is None and no_reference["IS"] == same["IS"]


def test_evaluate_script_end_to_end(tmp_path):
    _eval_set(tmp_path)
    command = [
        sys.executable,
        str(ROOT / "trainers" / "evaluate.py"),
        "--pipelines",
        "base=tiny-random",
        "again=tiny-random",
        "--eval_set",
        str(tmp_path / "eval_set"),
        "--reference_audio_dir",
        str(tmp_path / "refs"),
        "--backbones",
        "tiny-random",
        "--num_inference_steps",
        "2",
        "--audio_length_in_s",
        "1.0",
        "--output_dir",
        str(tmp_path / "out"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(report["results"]) == {"base", "again"}
    base = report["results"]["base"]
    assert all(isinstance(base[m], float) for m in ("FD", "FAD", "KAD", "IS", "KL", "CLAP"))
    # same tiny pipeline, same seeds → same clips → same metrics (to BLAS rounding: FD here is ~4e-7)
    assert base == pytest.approx(report["results"]["again"], rel=1e-4, abs=1e-10)
    assert report["embedded_clips"]["base"] == {"cnn14": 10, "vggish": 10, "clap": 10}
    table = (tmp_path / "out" / "results.md").read_text()
    assert table.startswith("| Model | FD ↓ | FAD ↓ | KAD ↓ | IS ↑ | KL ↓ | CLAP ↑ |") and "| base |" in table
    # random stand-in backbones: said in the table file and the JSON (found by the new-user probe)
    assert "**Not comparable:** computed with the 'tiny-random' stand-in backbones" in table
    assert report["note"].startswith("computed with the 'tiny-random' stand-in backbones")
    assert (tmp_path / "out" / "results.png").stat().st_size > 1000
    assert len(list((tmp_path / "out" / "clips" / "base").glob("*.wav"))) == 10
    # rerun here (the script's own process was tested above): every clip comes from the cache
    from baton_tta.cli import main

    cached = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "clips").rglob("*.wav")}
    assert main(["evaluate", *command[2:]]) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "clips").rglob("*.wav")} == cached
    rerun_results = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    for name, metrics in report["results"].items():
        assert rerun_results[name] == pytest.approx(metrics, rel=1e-4, abs=1e-10)


def test_missing_reference_audio_is_named(tmp_path):
    from baton_tta.scripts.evaluate import EvaluateArguments, run_evaluation

    _eval_set(tmp_path, 3)
    (tmp_path / "refs" / "cap1.wav").unlink()
    args = EvaluateArguments(
        pipelines=["tiny-random"],
        eval_set=str(tmp_path / "eval_set"),
        reference_audio_dir=str(tmp_path / "refs"),
        backbones="tiny-random",
        output_dir=str(tmp_path / "out"),
    )
    import pytest

    with pytest.raises(FileNotFoundError, match=r"no reference audio for 1 clip id\(s\): \['cap1'\]"):
        run_evaluation(args)


def test_metrics_written_into_the_model_card(tmp_path, loopback_hub):
    from huggingface_hub import HfApi, ModelCard

    from baton_tta.hub.cards import NOT_EVALUATED, pipeline_card

    api = HfApi()
    api.create_repo("baton/tuned")
    card = pipeline_card(
        title="t",
        summary="s",
        base_model="declare-lab/tango",
        datasets=["you/baton-temporal", str(tmp_path)],
        hyperparameters={"beta": 0.5},
        num_rows=4,
        mean_reward=0.5,
        steps=2,
        final_loss=0.1,
        use_lora=False,
        model_name="TANGO",
        pipeline_class="TangoPipeline",
        license="cc-by-nc-sa-4.0",
        license_note="inherited from TANGO's released weights",
        model_tags=("tango",),
        remote_code=True,
    )
    assert NOT_EVALUATED in card.text
    # metadata holds Hub ids only: the local folder is named in the text, never in `datasets`
    assert card.data.datasets == ["you/baton-temporal"] and card.data.base_model == "declare-lab/tango"
    card.save(tmp_path / "README.md")
    api.upload_file(
        path_or_fileobj=str(tmp_path / "README.md"), path_in_repo="README.md", repo_id="baton/tuned"
    )
    metrics = {"FD": 12.5, "FAD": 1.25, "IS": 4.5, "KL": 0.75, "CLAP": 0.31, "IS_std": 0.1}
    push_metrics_to_card(
        "baton/tuned", metrics, dataset_name="AudioCaps temporal subset", dataset_type="audiocaps"
    )
    card = ModelCard.load("baton/tuned")
    values = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert values == {"FD": 12.5, "FAD": 1.25, "IS": 4.5, "KL": 0.75, "CLAP": 0.31}
    assert "model-index" in card.content and card.data.library_name == "diffusers"
    # the body shows the results too, and the rest of the card (citation) survives
    assert NOT_EVALUATED not in card.text and "| FD | 12.5 |" in card.text and "| CLAP | 0.31 |" in card.text
    assert "On `AudioCaps temporal subset`" in card.text and "@article{liao2024baton" in card.text
    assert "Not comparable" not in card.text
    # numbers from stand-in backbones: marked in the section, kept out of the model-index
    push_metrics_to_card(
        "baton/tuned", metrics, dataset_name="AudioCaps temporal subset", dataset_type="audiocaps",
        note=stand_in_note("tiny-random"),
    )  # fmt: skip
    card = ModelCard.load("baton/tuned")
    assert card.data.eval_results is None and "model-index" not in card.content
    assert (
        f"**Not comparable:** {stand_in_note('tiny-random')}." in card.text and "| FD | 12.5 |" in card.text
    )
    assert stand_in_note("public") is None
    assert (
        table4_markdown({"m": metrics}).splitlines()[2]
        == "| m | 12.500 | 1.250 | — | 4.500 | 0.750 | 0.310 |"
    )
    assert np.isfinite(list(values.values())).all()


def test_kernel_audio_distance_is_kadtks_unbiased_mmd_by_hand():
    """KAD as kadtk defines it (checked against kadtk's own function on the same embeddings when this
    was written; kadtk cannot be installed beside this project): 100 × the unbiased MMD² under a
    Gaussian kernel whose bandwidth is the reference set's (lower) median pairwise distance."""
    from baton_tta.metrics.functions import kernel_audio_distance

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((6, 3)) + 0.5
    distances = sorted(np.linalg.norm(y[i] - y[j]) for i in range(6) for j in range(i + 1, 6))
    sigma = distances[(len(distances) - 1) // 2]

    def k(a, b):
        return math.exp(-np.sum((a - b) ** 2) / (2 * sigma**2 + 1e-8))

    xx = sum(k(x[i], x[j]) for i in range(5) for j in range(5) if i != j) / 20
    yy = sum(k(y[i], y[j]) for i in range(6) for j in range(6) if i != j) / 30
    xy = sum(k(x[i], y[j]) for i in range(5) for j in range(6)) / 30
    assert kernel_audio_distance(x, y) == pytest.approx(100 * (xx + yy - 2 * xy), rel=1e-9)
    assert kernel_audio_distance(x, y, bandwidth=2.0) != pytest.approx(kernel_audio_distance(x, y))
    # unbiased: two samples of one distribution sit near zero, on either side; a shift raises it
    same = [
        kernel_audio_distance(rng.standard_normal((40, 3)), rng.standard_normal((40, 3))) for _ in range(20)
    ]
    assert abs(np.mean(same)) < 0.5 and min(same) < 0 < max(same)
    assert kernel_audio_distance(rng.standard_normal((40, 3)) + 1.0, rng.standard_normal((40, 3))) > 5
    with pytest.raises(ValueError, match="at least 2 clips per set"):
        kernel_audio_distance(x[:1], y)


def test_no_local_path_reaches_a_card(tmp_path):
    """Found by the new-user probe: ``evaluate --push_to_hub`` wrote the evaluation CSV's absolute path
    into the public card's model-index. A card names a local source by its last part only — in the
    metadata, the evaluation section and the data sources — whatever the path looks like."""
    from baton_tta.hub.cards import pipeline_card, with_evaluation

    folder = tmp_path / "my data" / "private"
    folder.mkdir(parents=True)
    (folder / "myeval.csv").write_text("prompt\na dog\n")
    sources = [str(folder / "myeval.csv"), str(folder / "gone.csv"), "you/baton-temporal", "in-memory rows"]
    card = pipeline_card(
        title="t", summary="s", base_model=str(folder), datasets=sources, hyperparameters={}, num_rows=1,
        mean_reward=0.5, steps=1, final_loss=None, use_lora=False, model_name="TANGO",
        pipeline_class="TangoPipeline", license="other", license_note="", model_tags=(), remote_code=True,
    )  # fmt: skip
    card = with_evaluation(card, {"FD": 1.0}, str(folder / "myeval.csv"), str(folder / "myeval.csv"))
    card.save(tmp_path / "README.md")
    written = (tmp_path / "README.md").read_text()
    assert str(tmp_path) not in written and "my data" not in written
    assert (
        "local `myeval.csv`" in written
        and "local `gone.csv`" in written
        and "`you/baton-temporal`" in written
    )
    assert [(r.dataset_type, r.dataset_name) for r in card.data.eval_results] == [("local", "myeval.csv")]


def test_evaluate_refuses_what_it_cannot_measure_before_generating(tmp_path, monkeypatch):
    """Found by the fourth trust pass: ``--max_prompts 0`` evaluated every prompt, and one prompt with
    references crashed in FD after its clips were generated. Both are refused first."""
    from baton_tta.data.settings import SettingsError
    from baton_tta.scripts import evaluate
    from baton_tta.scripts.evaluate import EvaluateArguments, run_evaluation

    with pytest.raises(SettingsError, match="--max_prompts 0: at least 1"):
        EvaluateArguments(pipelines=["tiny-random"], eval_set="x", max_prompts=0, output_dir=str(tmp_path))
    _eval_set(tmp_path, 3)
    monkeypatch.setattr(evaluate, "generate_eval_clips", lambda *a, **k: pytest.fail("generated clips"))
    args = EvaluateArguments(
        pipelines=["tiny-random"],
        eval_set=str(tmp_path / "eval_set"),
        reference_audio_dir=str(tmp_path / "refs"),
        backbones="tiny-random",
        max_prompts=1,
        output_dir=str(tmp_path / "out"),
    )
    with pytest.raises(SettingsError, match=r"1 prompt\(s\): FD, FAD and KAD compare two sets"):
        run_evaluation(args)
    # three identical references (KAD was 199): refused before generating, naming the folder
    for clip in ("cap1", "cap2"):
        (tmp_path / "refs" / f"{clip}.wav").write_bytes((tmp_path / "refs" / "cap0.wav").read_bytes())
    args.max_prompts = 3
    with pytest.raises(SettingsError, match=r"refs: the 3 reference clips are .*identical"):
        run_evaluation(args)


def test_another_model_under_the_same_name_never_meets_the_first_ones_cached_clips(tmp_path):
    """Found by the fourth trust pass (outputs record what made them): the clip cache was keyed by the
    ``name=`` given, so ``tuned=other-folder`` in the same output folder scored the first model's
    clips. The key holds the pipeline's identity: its source and its weight files."""
    from baton_tta.cli import main
    from baton_tta.tiny import tiny_tango_pipeline

    _eval_set(tmp_path, 3)
    for seed in (0, 1):
        tiny_tango_pipeline(seed=seed).save_pretrained(tmp_path / f"model{seed}")
    argv = ["evaluate", "--eval_set", str(tmp_path / "eval_set"), "--backbones", "tiny-random"]
    argv += [
        "--num_inference_steps",
        "2",
        "--audio_length_in_s",
        "0.5",
        "--output_dir",
        str(tmp_path / "out"),
    ]
    clips = tmp_path / "out" / "clips" / "tuned"
    assert main([*argv, "--pipelines", f"tuned={tmp_path / 'model0'}"]) == 0
    first = {p.name for p in clips.glob("*.wav")}
    assert main([*argv, "--pipelines", f"tuned={tmp_path / 'model1'}"]) == 0
    second = {p.name for p in clips.glob("*.wav")} - first
    assert len(first) == len(second) == 3  # the second model's own clips, none of the first's reused
