"""Schemas, validation messages and loading from every supported source."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import soundfile as sf
from datasets import Audio, Dataset, DatasetDict

from baton_tta.data import PreferenceDataError, encode_audio, load_preference_dataset, select_trainable
from baton_tta.data.schema import binary_features
from helpers import sine, wav_bytes


def _clip(name="a.wav", freq=440.0):
    return encode_audio(sine(16000, 0.25, freq), 16000, name)


def _rows(n=3, **overrides):
    rows = {
        "prompt": [f"a dog barks {i}" for i in range(n)],
        "audio": [_clip(f"{i}.wav", 300 + 50 * i) for i in range(n)],
        "label": [1, 0, -1][:n] + [1] * max(0, n - 3),
    }
    rows.update(overrides)
    return rows


def _save(rows, path):
    Dataset.from_dict(rows).cast_column("audio", Audio(decode=False)).save_to_disk(str(path))
    return path


def test_loads_save_to_disk_and_fills_defaults(tmp_path):
    ds = load_preference_dataset(_save(_rows(), tmp_path / "ds"))
    assert ds.features["audio"] == Audio(sampling_rate=16000, decode=False)
    assert ds.features["label"].names == ["not aligned", "aligned"]  # datasets' ClassLabel; -1 is "no label"
    assert ds.features["label"].int2str(1) == "aligned"
    assert list(ds.features)[:10] == list(binary_features())
    assert ds["source"] == ["human"] * 3
    assert ds["reward"][:2] == [1.0, 0.0] and np.isnan(ds["reward"][2])
    assert ds["task"] == [""] * 3 and ds["events"] == [[], [], []] and ds["seed"] == [-1] * 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompt": ["ok", "  ", "ok"]}, "row 1, column 'prompt': empty or missing prompt"),
        (
            {"prompt": ["ok", "a dog " * 20_000, "ok"]},
            "row 1, column 'prompt': 120,000 characters (at most 2,000",
        ),
        ({"label": [1, 2, 0]}, "row 1, column 'label': 2 is not 1 (aligned), 0 (not aligned) or -1 (skip)"),
        ({"task": ["integrity", "spatial", "temporal"]}, "row 1, column 'task': 'spatial' is not one of"),
        ({"source": ["human", "robot", "human"]}, "row 1, column 'source': 'robot' is not one of"),
        ({"reward": [0.5, 1.5, 0.0]}, "row 1, column 'reward': 1.5 must be a finite number in [0, 1]"),
        (
            {
                "audio": [
                    _clip(),
                    {"bytes": wav_bytes(np.zeros(800, np.float32), 16000), "path": "s.wav"},
                    _clip(),
                ]
            },
            "row 1, column 'audio': audio is silent",
        ),
        (
            {
                "audio": [
                    _clip(),
                    {
                        "bytes": wav_bytes(np.array([np.inf, 0.1], np.float32), 16000, subtype="FLOAT"),
                        "path": "n.wav",
                    },
                    _clip(),
                ]
            },
            "row 1, column 'audio': audio has 1 NaN/inf samples",
        ),
        (
            {
                "audio": [
                    _clip(),
                    {"bytes": wav_bytes(np.zeros(0, np.float32), 16000), "path": "e.wav"},
                    _clip(),
                ]
            },
            "row 1, column 'audio': audio is empty",
        ),
        (
            {"audio": [_clip(), {"bytes": b"garbage", "path": "g.wav"}, _clip()]},
            "row 1, column 'audio': could not decode",
        ),
    ],
)
def test_every_validation_error_names_row_and_column(tmp_path, overrides, message):
    with pytest.raises(PreferenceDataError) as error:
        load_preference_dataset(_save(_rows(**overrides), tmp_path / "ds"))
    assert message in str(error.value)
    assert str(error.value).startswith(str(tmp_path / "ds"))


def test_missing_column_is_named(tmp_path):
    rows = _rows()
    del rows["label"]
    with pytest.raises(PreferenceDataError, match="column 'label' is missing"):
        load_preference_dataset(_save(rows, tmp_path / "ds"))


def test_all_problems_are_reported_together(tmp_path):
    with pytest.raises(PreferenceDataError) as error:
        load_preference_dataset(_save(_rows(prompt=["", "", "x"], label=[5, 1, 9]), tmp_path / "ds"))
    assert error.value.problems == [
        "row 0, column 'prompt': empty or missing prompt ('')",
        "row 0, column 'label': 5 is not 1 (aligned), 0 (not aligned) or -1 (skip)",
        "row 1, column 'prompt': empty or missing prompt ('')",
        "row 2, column 'label': 9 is not 1 (aligned), 0 (not aligned) or -1 (skip)",
    ]


def test_column_map(tmp_path):
    rows = _rows()
    rows["caption"] = rows.pop("prompt")
    rows["wave"] = rows.pop("audio")
    Dataset.from_dict(rows).cast_column("wave", Audio(decode=False)).save_to_disk(str(tmp_path / "ds"))
    ds = load_preference_dataset(tmp_path / "ds", column_map={"caption": "prompt", "wave": "audio"})
    assert ds["prompt"][0] == "a dog barks 0"
    with pytest.raises(PreferenceDataError, match="column_map names column 'nope'"):
        load_preference_dataset(tmp_path / "ds", column_map={"nope": "prompt"})


def test_dataset_dict_split(tmp_path):
    data = Dataset.from_dict(_rows()).cast_column("audio", Audio(decode=False))
    DatasetDict({"train": data, "test": data.select([0])}).save_to_disk(str(tmp_path / "dd"))
    assert len(load_preference_dataset(tmp_path / "dd", split="test")) == 1
    with pytest.raises(ValueError, match="no split 'valid'"):
        load_preference_dataset(tmp_path / "dd", split="valid")


def test_parquet_file_and_folder(tmp_path):
    Dataset.from_dict(_rows()).cast_column("audio", Audio(decode=False)).to_parquet(
        str(tmp_path / "p" / "a.parquet")
    )
    assert len(load_preference_dataset(tmp_path / "p" / "a.parquet")) == 3
    assert len(load_preference_dataset(tmp_path / "p")) == 3


def test_json_and_csv_with_relative_audio_paths(tmp_path):
    for i in range(2):
        sf.write(tmp_path / f"c{i}.wav", sine(22050, 0.2), 22050)
    records = [
        {"prompt": "rain", "audio": "c0.wav", "label": 1},
        {"prompt": "wind", "audio": "c1.wav", "label": 0},
    ]
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    ds = load_preference_dataset(tmp_path / "rows.jsonl")
    assert ds["label"] == [1, 0] and ds[0]["audio"]["path"] == "c0.wav"
    (tmp_path / "rows.csv").write_text("prompt,audio,label\nrain,c0.wav,1\nwind,missing.wav,0\n")
    with pytest.raises(PreferenceDataError, match=r"row 1, column 'audio': file 'missing\.wav' not found"):
        load_preference_dataset(tmp_path / "rows.csv")


def test_audio_folder_with_metadata(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    sf.write(folder / "a.flac", sine(44100, 0.2), 44100)
    sf.write(folder / "b.flac", np.stack([sine(44100, 0.2)] * 2, 1), 44100)
    (folder / "metadata.csv").write_text(
        "file_name,prompt,label,task\na.flac,a dog barks,1,integrity\nb.flac,rain,0,temporal\n"
    )
    ds = load_preference_dataset(folder)
    assert ds["task"] == ["integrity", "temporal"] and ds[1]["audio"]["path"] == "b.flac"
    (folder / "metadata.csv").write_text("file_name,prompt,label\na.flac,x,1\nghost.flac,y,0\n")
    with pytest.raises(PreferenceDataError, match=r"row 1, column 'file_name': 'ghost\.flac' not found"):
        load_preference_dataset(folder)


def test_unknown_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_preference_dataset(tmp_path / "absent.parquet")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_preference_dataset(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no dataset found"):
        load_preference_dataset(tmp_path / "empty")


def test_pairwise_and_pretrain_schemas(tmp_path):
    pairs = {
        "prompt": ["a dog barks"],
        "chosen": [_clip("c.wav")],
        "rejected": [_clip("r.wav", 880)],
        "strategy": ["x"],
    }
    data = Dataset.from_dict(pairs)
    for column in ("chosen", "rejected"):
        data = data.cast_column(column, Audio(decode=False))
    data.save_to_disk(str(tmp_path / "pairs"))
    ds = load_preference_dataset(tmp_path / "pairs", schema="pairwise")
    assert ds.column_names == ["prompt", "chosen", "rejected", "strategy"]
    Dataset.from_dict({"caption": ["rain falls"], "audio": [_clip()]}).cast_column(
        "audio", Audio(decode=False)
    ).save_to_disk(str(tmp_path / "pre"))
    assert load_preference_dataset(tmp_path / "pre", schema="pretrain")["prompt"] == ["rain falls"]
    with pytest.raises(ValueError, match="unknown schema"):
        load_preference_dataset(tmp_path / "pre", schema="ranking")


def test_select_trainable_counts_exclusions(tmp_path, caplog):
    rows = _rows(
        5,
        label=[1, -1, 0, -1, -1],
        source=["human", "human", "human", "unlabelled", "reward_model"],
        reward=[1.0, float("nan"), 0.0, float("nan"), 0.7],
    )
    ds = load_preference_dataset(_save(rows, tmp_path / "ds"))
    with caplog.at_level(logging.INFO, logger="baton_tta.data.schema"):
        kept = select_trainable(ds)
    assert kept["prompt"] == ["a dog barks 0", "a dog barks 2", "a dog barks 4"]
    assert (
        "training uses 3 of 5 rows; left out: 1 skipped by the annotator (label -1), "
        "1 not labelled or scored yet" in caplog.text
    )


def test_one_rule_for_duplicates_copies_dropped_contradictions_refused(tmp_path, caplog):
    """Found by the trust probe: the same clip labelled 0 and 1, plus an exact copy, trained silently."""
    from baton_tta.data.loading import standardize
    from baton_tta.toy.tones import tone_preference_dataset

    data = tone_preference_dataset(4, reward_rows=False)
    rows = data.to_dict()
    copy = {k: v[0] for k, v in rows.items()}
    contradiction = {**copy, "label": 1 - copy["label"], "reward": 1.0 - copy["reward"]}
    with_copy = Dataset.from_list([*data.to_list(), copy]).cast(data.features)
    with caplog.at_level(logging.WARNING):
        loaded = standardize(with_copy, "binary", "prefs.jsonl", check_audio=False)
    assert len(loaded) == 4 and "dropped 1 exact copies: row 4 (= row 0)" in caplog.text
    both = Dataset.from_list([*data.to_list(), copy, contradiction]).cast(data.features)
    both.save_to_disk(str(tmp_path / "both"))
    with pytest.raises(PreferenceDataError, match=r"rows 0 and 5: the same caption and clip are labelled"):
        load_preference_dataset(str(tmp_path / "both"))


def test_json_is_read_with_text_columns_as_text_and_errors_name_file_line_row(tmp_path):
    """Found by the trust probe: one numeric prompt made datasets' JSON reader wrap every other
    prompt in quote marks, and trailing garbage surfaced as a bare DatasetGenerationError."""
    sf.write(tmp_path / "a.wav", sine(16000, 1.0), 16000)
    rows = [
        {"prompt": "A dog barks", "audio": "a.wav", "label": 1},
        {"prompt": 12345, "audio": "a.wav", "label": 0},
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(
        PreferenceDataError,
        match=r"(?s)data\.jsonl: 1 problem.*row 1, column 'prompt': 12345 \(int\) is not text",
    ):
        load_preference_dataset(str(tmp_path / "data.jsonl"))
    rows[1]["prompt"] = "Rain falls"
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert load_preference_dataset(str(tmp_path / "data.jsonl"))["prompt"] == ["A dog barks", "Rain falls"]
    (tmp_path / "pretty.json").write_text(json.dumps(rows, indent=2) + "\ntrailing garbage")
    with pytest.raises(
        PreferenceDataError, match=r"(?s)pretty\.json: .*line 13, column 1: not valid JSON \(Extra data\)"
    ):
        load_preference_dataset(str(tmp_path / "pretty.json"))


def test_errors_that_named_nothing_now_name_the_file_row_and_cause(tmp_path):
    """Found by the trust probe: non-UTF-8 CSV, an empty file, a human label 1 with reward 0.2, a
    corrupt SQLite store and a reward-model path that is a file raised raw library messages or nothing."""
    from baton_tta.annotate import LabelStore
    from baton_tta.reward.modeling import BatonRewardModel

    (tmp_path / "latin1.csv").write_bytes("prompt,audio,label\nCaf\xe9 noise,a.wav,1\n".encode("latin-1"))
    with pytest.raises(PreferenceDataError, match=r"(?s)latin1\.csv.*line 2, byte \d+: not UTF-8 text"):
        load_preference_dataset(str(tmp_path / "latin1.csv"))
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(PreferenceDataError, match=r"(?s)empty\.jsonl.*holds no rows"):
        load_preference_dataset(str(tmp_path / "empty.jsonl"))
    sf.write(tmp_path / "a.wav", sine(16000, 1.0), 16000)
    row = {"prompt": "a dog barks", "audio": "a.wav", "label": 1, "reward": 0.2, "source": "human"}
    (tmp_path / "odd.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(PreferenceDataError, match=r"row 0, column 'reward': 0\.2 contradicts label 1"):
        load_preference_dataset(str(tmp_path / "odd.jsonl"))
    (tmp_path / "store.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match=r"store\.sqlite: not a readable label store"):
        LabelStore(tmp_path / "store.sqlite", app_version="1")
    with pytest.raises(ValueError, match=r"a\.wav is a file; a reward model is the folder"):
        BatonRewardModel.from_pretrained(str(tmp_path / "a.wav"))


# ------------------------------------------------------------------ third trust pass
def _path_only_rows(paths: list[str]) -> Dataset:
    """Binary rows whose audio struct carries only a path, as Parquet, Arrow and Hub rows can."""
    audio = [{"bytes": None, "path": p} for p in paths]
    rows = {
        "prompt": [f"a dog barks {i}" for i in range(len(paths))],
        "audio": audio,
        "label": [1] * len(paths),
    }
    return Dataset.from_dict(rows).cast_column("audio", Audio(decode=False))


def test_a_path_only_clip_is_read_only_inside_a_local_dataset(tmp_path, monkeypatch):
    """Found by the third trust pass: a dataset naming ``/etc/passwd`` or a private recording made the
    tools read it and embed its bytes in their output (a push would upload it). Parquet keeps such
    paths; ``save_to_disk`` embeds the files it names when it writes, so its folders never hold one."""
    outside = tmp_path / "private.wav"
    outside.write_bytes(wav_bytes(sine(16000), 16000))
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "inside.wav").write_bytes(wav_bytes(sine(16000, freq=220.0), 16000))
    monkeypatch.chdir(folder)  # datasets sizes the files a path names while it writes

    def save(paths, name):
        target = str(folder / name) + ".parquet"
        _path_only_rows(paths).to_parquet(target)
        return target

    leaking = save(["inside.wav", str(outside)], "leaking")
    with pytest.raises(PreferenceDataError, match=r"row 1, column 'audio': '.*private\.wav' points outside"):
        load_preference_dataset(leaking, check_audio=False)
    with pytest.raises(PreferenceDataError, match=r"row 0, column 'audio': '/etc/passwd' points outside"):
        load_preference_dataset(save(["/etc/passwd"], "passwd"), check_audio=False)
    allowed = load_preference_dataset(leaking, check_audio=False, allow_outside_paths=True)
    assert allowed[1]["audio"]["bytes"] == outside.read_bytes()
    kept = load_preference_dataset(save(["inside.wav"], "kept"))
    assert kept[0]["audio"] == {"bytes": (folder / "inside.wav").read_bytes(), "path": "inside.wav"}


def test_a_remote_dataset_never_reads_local_files(tmp_path, monkeypatch):
    """A Hub dataset (no local folder) may name only what the Hub loaders downloaded for it."""
    import datasets.config

    from baton_tta.data.loading import HUB, embed_audio_paths

    cache = tmp_path / "cache"
    (cache / "downloads").mkdir(parents=True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    downloaded = cache / "downloads" / "clip.wav"
    downloaded.write_bytes(wav_bytes(sine(16000), 16000))
    private = tmp_path / "private.wav"
    private.write_bytes(b"secret")
    with pytest.raises(
        PreferenceDataError, match=r"(?s)you/remote: .*row 1, column 'audio': the clip is only a local path"
    ):
        embed_audio_paths(_path_only_rows([str(downloaded), str(private)]), "you/remote", HUB)
    ok = embed_audio_paths(_path_only_rows([str(downloaded)]), "you/remote", HUB)
    assert ok[0]["audio"]["bytes"] == downloaded.read_bytes()


def test_label_with_reward_model_refuses_a_dataset_naming_a_local_file(tmp_path):
    from baton_tta.cli import main

    _path_only_rows(["/etc/passwd"]).to_parquet(str(tmp_path / "rows.parquet"))
    out = tmp_path / "out"
    argv = [
        "label-with-reward-model",
        "--dataset",
        str(tmp_path / "rows.parquet"),
        "--reward_model",
        "tiny-random",
    ]
    with pytest.raises(
        SystemExit, match=r"(?s)baton-tta label-with-reward-model: .*'/etc/passwd' points outside"
    ):
        main([*argv, "--output_dir", str(out)])  # one line, no traceback (a user's error)
    assert not out.exists()
    with pytest.raises(PreferenceDataError, match=r"'/etc/passwd' points outside"):
        main([*argv, "--output_dir", str(out), "--debug"])  # the traceback, when asked for


def test_a_dataset_without_rows_is_named_and_said_to_be_empty(tmp_path):
    """Found by the third trust pass: an empty ``save_to_disk`` folder gave ``IndexError: list index out
    of range`` and a header-only CSV ``Instruction "train" corresponds to no data!``."""
    empty = tmp_path / "empty"
    _path_only_rows([]).save_to_disk(str(empty))
    with pytest.raises(PreferenceDataError, match=rf"(?s){empty}: .*the dataset has no rows"):
        load_preference_dataset(str(empty))
    header = tmp_path / "header.csv"
    header.write_text("prompt,audio,label\n")
    with pytest.raises(
        PreferenceDataError, match=r"(?s)header\.csv: .*the file holds no rows \(a header at most\)"
    ):
        load_preference_dataset(str(header))
    DatasetDict({"train": _path_only_rows([])}).save_to_disk(str(tmp_path / "dict"))
    with pytest.raises(PreferenceDataError, match=r"split 'train' has no rows"):
        load_preference_dataset(str(tmp_path / "dict"))


def test_a_clip_re_encoded_is_the_same_clip_for_the_loaders_as_for_merge(tmp_path):
    """Found by the third trust pass: the loaders compared encoded bytes and ``merge-labels`` decoded
    samples, so a FLAC copy of a WAV clip labelled the other way trained as two clips."""
    import io

    from baton_tta.data.duplicates import clip_key
    from baton_tta.data.loading import standardize

    as_wav = {"bytes": wav_bytes(sine(16000, 1.0), 16000), "path": "a.wav"}
    pcm, rate = sf.read(io.BytesIO(as_wav["bytes"]), dtype="int16")  # a lossless transcode: same samples
    as_flac = {"bytes": wav_bytes(pcm, rate, fmt="FLAC"), "path": "a.flac"}
    assert as_wav["bytes"] != as_flac["bytes"]
    assert clip_key("a dog barks", as_wav) == clip_key("a dog barks", as_flac)
    assert clip_key("a dog barks", as_wav) != clip_key("a cat meows", as_wav)
    rows = Dataset.from_dict(
        {"prompt": ["a dog barks", "a dog barks"], "audio": [as_wav, as_flac], "label": [1, 0]}
    ).cast_column("audio", Audio(decode=False))
    with pytest.raises(
        PreferenceDataError, match=r"rows 0 and 1: the same caption and clip are labelled 1 and 0"
    ):
        standardize(rows, "binary", "two encodings", check_audio=False)


def test_a_csv_whose_clips_live_in_another_folder_needs_the_command_line_switch(tmp_path, capsys):
    """Found by the new-user probe: the outside-folder permission was a Python argument no command
    exposed, so a CSV whose audio lives elsewhere could not be used from the command line. Refused by
    default, naming the switch; ``--allow_outside_paths`` on any command reads it."""
    from baton_tta.cli import main
    from helpers import wav_bytes

    clips, table = tmp_path / "my-wavs", tmp_path / "labels"
    clips.mkdir(), table.mkdir()
    for i in range(2):
        (clips / f"{i}.wav").write_bytes(
            wav_bytes(0.1 * np.sin(np.arange(16000) / (3 + i)).astype(np.float32), 16000)
        )
    rows = "prompt,audio,label\n" + "".join(f"a dog barks {i},{clips / f'{i}.wav'},{i}\n" for i in range(2))
    (table / "labels.csv").write_text(rows)
    argv = [
        "push-dataset",
        "--source",
        str(table / "labels.csv"),
        "--hub_dataset_id",
        "you/mine",
        "--license",
        "cc-by-4.0",
        "--dry_run",
    ]
    with pytest.raises(SystemExit, match=r"(?s)points outside .*add --allow_outside_paths to the command"):
        main(argv)
    assert main([*argv, "--allow_outside_paths"]) == 0
    assert "would push (dry run) 2 rows" in capsys.readouterr().out


def test_an_empty_split_of_a_saved_dataset_dict_is_named(tmp_path):
    """Found by the fourth trust pass: ``DatasetDict(train=0 rows, test=3 rows)`` gave a bare IndexError."""
    from datasets import DatasetDict

    from baton_tta.toy.tones import tone_preference_dataset

    rows = tone_preference_dataset(3)
    DatasetDict(train=rows.select([]), test=rows).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(PreferenceDataError, match=r"split 'train' has no rows"):
        load_preference_dataset(tmp_path / "dd")
    assert len(load_preference_dataset(tmp_path / "dd", split="test", check_audio=False)) == 3
