"""The five Table 4 metrics through ``evaluate.load``: the same numbers as ``baton_tta.metrics`` on
the same clips and (tiny, random) backbones, from waveforms or from files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

evaluate = pytest.importorskip("evaluate", reason="the evaluate extra is not installed")

from baton_tta.metrics.evaluation import Backbones, compute_metrics, embed_clips  # noqa: E402
from baton_tta.tiny import tiny_backbones  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODULES = {
    "frechet_distance": "FD",
    "frechet_audio_distance": "FAD",
    "kl_divergence": "KL",
    "inception_score": "IS",
    "clap_score": "CLAP",
}


def _clips(count: int = 12) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(0)
    generated = [(0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t)).astype(np.float32) for i in range(count)]
    reference = [(rng.standard_normal(16000) * (0.05 + 0.05 * i)).astype(np.float32) for i in range(count)]
    sounds = [
        "a dog barks",
        "rain falls",
        "a siren",
        "a bell rings",
        "thunder",
        "birds chirp",
        "a car horn honks",
    ]
    captions = [f"{sounds[i % 7]} then {sounds[(3 * i + 1) % 7]}" for i in range(count)]
    return generated, reference, captions


def _references(name: str, reference: list, captions: list[str]) -> dict:
    if MODULES[name] == "IS":
        return {}
    return {"references": captions if MODULES[name] == "CLAP" else reference}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_evaluate_module_equals_the_library(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    generated, reference, captions = _clips()
    backbones = tiny_backbones()
    ids = [str(i) for i in range(len(generated))]
    expected = compute_metrics(
        embed_clips(ids, generated, backbones), captions, backbones, embed_clips(ids, reference, backbones)
    )
    metric = evaluate.load(str(ROOT / "evaluate_metrics" / name))
    as_lists = {
        k: [x if isinstance(x, str) else x.tolist() for x in v]
        for k, v in _references(name, reference, captions).items()
    }
    result = metric.compute(predictions=[x.tolist() for x in generated], backbones=backbones, **as_lists)
    key = MODULES[name]
    assert result[key] == pytest.approx(expected[key], rel=1e-9, abs=1e-12)
    # files give the same number as waveforms
    files = {}
    for kind, waves in (("predictions", generated), ("references", reference)):
        for index, wave in enumerate(waves):
            sf.write(tmp_path / f"{kind}{index}.wav", wave, 16000, subtype="FLOAT")
        files[kind] = [str(tmp_path / f"{kind}{i}.wav") for i in range(len(waves))]
    if key in ("IS", "CLAP"):
        files = {"predictions": files["predictions"], **as_lists}
    from_files = metric.compute(backbones=backbones, **files)
    assert from_files[key] == pytest.approx(result[key], rel=1e-6, abs=1e-9)


def test_pairing_is_by_position_and_missing_backbones_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    generated, _, captions = _clips()
    backbones = tiny_backbones()
    clap = evaluate.load(str(ROOT / "evaluate_metrics" / "clap_score"))
    waves = [x.tolist() for x in generated]
    forward = clap.compute(predictions=waves, references=captions, backbones=backbones)["CLAP"]
    shuffled = clap.compute(predictions=waves, references=captions[::-1], backbones=backbones)["CLAP"]
    assert forward != pytest.approx(shuffled)
    fd = evaluate.load(str(ROOT / "evaluate_metrics" / "frechet_distance"))
    with pytest.raises(ValueError, match="FD needs backbones"):
        fd.compute(predictions=waves, references=waves, backbones=Backbones(clap=backbones.clap))
