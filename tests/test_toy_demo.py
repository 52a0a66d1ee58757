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
def test_toy_demo_smoke_prints_before_after_and_saves_a_toy_pipeline(tmp_path, capsys):
    from diffusers import DiffusionPipeline
    from huggingface_hub import ModelCard

    from baton_tta.cli import main

    assert main(["toy-demo", "--smoke", "true", "--output_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "This is the toy world" in out
    interval = r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]"
    for model in ("base (pretrained only)", "human + reward-model rows"):
        assert re.search(rf"\| {re.escape(model)} \| {interval} \| {interval} \| -?\d\.\d{{3}} \|", out), (
            model
        )
    assert "integrity − base" in out and "trust_remote_code=True" in out
    assert (tmp_path / "toy_demo.md").is_file() and (tmp_path / "toy_demo.png").stat().st_size > 5000
    folder = tmp_path / "baton-toy-tango"
    card = ModelCard.load(folder / "README.md")
    assert "toy world" in card.text and "toy-world" in card.data.tags
    assert {r.metric_name for r in card.data.eval_results} == {
        "integrity aligned (oracle)",
        "temporal aligned (oracle)",
        "CLAP score (toy CLAP)",
    }
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
