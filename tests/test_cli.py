"""The offline demo command writes playable clips and a manifest."""

from __future__ import annotations

import json

import soundfile as sf

from baton_tta.cli import clip_filename, main


def test_generate_writes_wavs_and_manifest(tmp_path):
    out = tmp_path / "demo"
    code = main(
        [
            "generate",
            "--prompt",
            "A dog barks!",
            "--prompt",
            "rain",
            "--output-dir",
            str(out),
            "--audio-length",
            "0.5",
            "--steps",
            "2",
            "--clips-per-prompt",
            "2",
        ]
    )
    assert code == 0
    wavs = sorted(out.glob("*.wav"))
    assert [w.name for w in wavs] == [
        "000_a-dog-barks_0.wav",
        "000_a-dog-barks_1.wav",
        "001_rain_0.wav",
        "001_rain_1.wav",
    ]
    data, rate = sf.read(wavs[0])
    assert rate == 16000 and data.shape == (8000,)
    records = [json.loads(line) for line in (out / "clips.jsonl").read_text().splitlines()]
    assert [r["file"] for r in records] == [w.name for w in wavs]
    assert records[2] == {"prompt": "rain", "file": "001_rain_0.wav", "seed": 1, "pipeline": "tiny"}


def test_clip_filename_is_safe():
    assert clip_filename(7, "Ünïcode / slashes?", 3) == "007_n-code-slashes_3.wav"
    assert clip_filename(0, "!!!", 0) == "000_clip_0.wav"
