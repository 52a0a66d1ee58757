"""Hub round trips against the loopback Hub server, with the real huggingface_hub/diffusers/datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset, load_dataset
from diffusers import DiffusionPipeline
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

from baton_tta import TangoPipeline
from baton_tta.hub.cards import LICENSES
from helpers import generator

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_push_download_and_load(tiny_pipe, tmp_path, loopback_hub):
    tiny_pipe.save_pretrained(tmp_path / "local", push_to_hub=True, repo_id="baton/tiny-tango")
    api = HfApi()
    files = {s.rfilename for s in api.repo_info("baton/tiny-tango").siblings}
    assert {"model_index.json", "pipeline_tango.py", "unet/diffusion_pytorch_model.safetensors"} <= files

    remote = DiffusionPipeline.from_pretrained(
        "baton/tiny-tango", trust_remote_code=True, cache_dir=tmp_path / "cache"
    )
    remote.set_progress_bar_config(disable=True)
    direct = TangoPipeline.from_pretrained("baton/tiny-tango", cache_dir=tmp_path / "cache2")
    direct.set_progress_bar_config(disable=True)
    kwargs = {"audio_length_in_s": 0.5, "num_inference_steps": 2}
    expected = tiny_pipe("a dog barks", generator=generator(), **kwargs).audios
    for loaded in (remote, direct):
        np.testing.assert_array_equal(loaded("a dog barks", generator=generator(), **kwargs).audios, expected)


def test_missing_repo_and_file_errors(loopback_hub, tmp_path):
    with pytest.raises(RepositoryNotFoundError):
        HfApi().repo_info("baton/absent")
    HfApi().create_repo("baton/empty")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("baton/empty", "nope.json", cache_dir=tmp_path)


def test_dataset_push_and_load(loopback_hub, tmp_path):
    rows = {"prompt": ["a dog barks", "rain falls"], "label": [1, 0], "events": [["Dog"], ["Rain"]]}
    Dataset.from_dict(rows).push_to_hub("baton/prefs")
    loaded = load_dataset("baton/prefs", split="train", cache_dir=str(tmp_path / "ds"))
    assert loaded.to_dict() == rows


def test_preference_dataset_push_card_and_load(loopback_hub, tmp_path):
    from huggingface_hub import DatasetCard

    from baton_tta.data import encode_audio, load_preference_dataset
    from baton_tta.hub.datasets import push_preference_dataset
    from helpers import sine

    rows = {
        "prompt": ["a dog barks", "rain", "an owl"],
        "label": [1, 0, -1],
        "task": ["integrity", "integrity", "temporal"],
        "audio": [encode_audio(sine(16000, 0.2, f), 16000, f"{f}.wav") for f in (300, 400, 500)],
        "annotator": ["ann1", "ann2", ""],
        "generator": ["tango"] * 3,
    }
    Dataset.from_dict(rows).save_to_disk(str(tmp_path / "local"))
    local = load_preference_dataset(tmp_path / "local")
    push_preference_dataset(local, "baton/clips", pretty_name="Tiny clips")
    repo = loopback_hub.state.repos[("dataset", "baton/clips")]
    assert len(repo.commits) == 2  # the repository's creation, then rows and card in one commit
    assert {"README.md", "data/train-00000-of-00001.parquet"} <= set(repo.head[1])
    card = DatasetCard.load("baton/clips", repo_type="dataset")
    assert card.data.license == LICENSES["dataset"] and "text-to-audio" in card.data.task_categories
    assert "| integrity | 2 | 50.0 % | 50.0 % | 0.0 % |" in card.text
    assert "| temporal | 1 | 0.0 % | 0.0 % | 100.0 % |" in card.text
    assert "- annotators: 2" in card.text
    loaded = load_preference_dataset("baton/clips")
    assert loaded["prompt"] == rows["prompt"] and loaded["label"] == rows["label"]
    assert loaded[0]["audio"]["bytes"] == local[0]["audio"]["bytes"]


def test_push_dataset_refuses_to_license_ones_data_by_default(tmp_path):
    """Found by the new-user probe: ``push-dataset`` licensed one's own data cc-by-nc-sa-4.0 unless told
    otherwise. Without ``--license`` it is refused before anything is read, naming the flag."""
    from baton_tta.scripts import push_dataset

    with pytest.raises(SystemExit, match=r"give --license for .*nowhere.*e\.g\. --license cc-by-4\.0"):
        push_dataset.main(["--source", str(tmp_path / "nowhere"), "--hub_dataset_id", "you/mine"])


def test_dry_run_shows_every_push_and_uploads_nothing(tmp_path, capsys, monkeypatch):
    """``--dry_run`` on any command: each push prints its repository, files with sizes and the card as
    it would be pushed, and makes no request (the Hub endpoint here is a closed port: any request fails)."""
    from baton_tta.cli import main
    from baton_tta.toy.tones import tone_preference_dataset

    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")  # nothing listens
    tone_preference_dataset(4).save_to_disk(str(tmp_path / "clips"))
    argv = [
        "push-dataset",
        "--source",
        str(tmp_path / "clips"),
        "--hub_dataset_id",
        "you/mine",
        "--license",
        "cc-by-4.0",
    ]
    assert main([*argv, "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "dry run: nothing uploaded; the commit would add" in printed and "to dataset you/mine:" in printed
    assert "README.md as it would be pushed" in printed and "license: cc-by-4.0" in printed
    assert "would push (dry run) 4 rows and the dataset card to you/mine" in printed
    train = [
        "train",
        "--config",
        str(ROOT / "recipes" / "tiny_random.yaml"),
        "--max_steps",
        "1",
        "--save_strategy",
        "no",
    ]
    train += [
        "--validation_every_n_steps",
        "0",
        "--output_dir",
        str(tmp_path / "out"),
        "--push_to_hub",
        "true",
    ]
    assert main([*train, "--hub_model_id", "you/tuned", "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "to model you/tuned:" in printed and "unet/diffusion_pytorch_model.safetensors" in printed
    assert 'DiffusionPipeline.from_pretrained("you/tuned"' in printed
    with pytest.raises(
        ConnectionError
    ):  # without --dry_run the same push does reach for the Hub (offline here)
        main(argv)
