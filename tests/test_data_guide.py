"""``docs/data.md`` as written: its three worked examples run here, command by command, on the inputs
the page describes (clips built in code), with the tiny stand-ins the page names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from baton_tta.cli import main
from helpers import wav_bytes
from test_readme_sequence import readme_sequence

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "data.md"


def _clips(folder: Path) -> None:
    """The page's two one-second clips, ``0.wav`` and ``1.wav``."""
    folder.mkdir(parents=True)
    for i in range(2):
        wave = (0.1 * np.sin(2 * np.pi * (220 + 110 * i) * np.arange(16000) / 16000)).astype(np.float32)
        (folder / f"{i}.wav").write_bytes(wav_bytes(wave, 16000))


def _table(page: str, after: str) -> str:
    """The ``text`` block that follows ``after`` on the page (the files the example starts from)."""
    return page.split(after, 1)[1].split("```text\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def guide_world(tmp_path, monkeypatch) -> str:
    """The files the page starts from, in a fresh working directory."""
    monkeypatch.chdir(tmp_path)
    page = GUIDE.read_text(encoding="utf-8")
    _clips(Path("my-wavs"))
    Path("my-labels").mkdir()
    Path("my-labels/labels.csv").write_text(_table(page, "whose rows name them:"))
    Path("my-eval.csv").write_text("audiocap_id,prompt\n0,a dog barks then a bell rings\n1,a bell rings\n")
    _clips(Path("my-folder"))
    Path("my-folder/metadata.csv").write_text(_table(page, "(`file_name` instead of `audio`):"))
    return page


@pytest.mark.slow
def test_the_csv_example_takes_your_wavs_to_an_evaluated_pipeline(guide_world, capsys):
    commands = readme_sequence("<!-- data-guide: csv -->", GUIDE)
    assert [c[0] for c in commands] == ["push-dataset", "train-reward-model", "train", "evaluate"]
    for argv in commands:
        assert main(argv) == 0, argv
    assert "would push (dry run) 2 rows" in capsys.readouterr().out
    assert Path("outputs/my-reward-model/model.safetensors").is_file()
    assert Path("outputs/my-tuned/model_index.json").is_file()
    results = json.loads(Path("outputs/my-evaluation/results.json").read_text())
    assert set(results["results"]) == {"base", "tuned"} and results["results"]["tuned"]["FD"] is not None
    assert "not comparable" in Path("outputs/my-evaluation/results.md").read_text()


def test_the_audio_folder_example_trains_a_reward_model(guide_world):
    (argv,) = readme_sequence("<!-- data-guide: audiofolder -->", GUIDE)
    assert main(argv) == 0
    assert json.loads(Path("outputs/folder-reward-model/reward_metrics.json").read_text())["train_rows"] == 2


def test_the_hub_example_pushes_and_trains_from_the_id(guide_world, loopback_hub):
    commands = readme_sequence("<!-- data-guide: hub -->", GUIDE)
    assert [c[0] for c in commands] == ["push-dataset", "train-reward-model"]
    for argv in commands:
        assert main(argv) == 0, argv
    assert Path("outputs/hub-reward-model/model.safetensors").is_file()
