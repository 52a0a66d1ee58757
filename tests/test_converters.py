"""Official BATON JSON files and pairwise datasets → our schemas."""

from __future__ import annotations

import json
import logging

import pytest
import soundfile as sf
from datasets import Audio, Dataset

from baton_tta.data import PreferenceDataError, encode_audio
from baton_tta.data.converters import convert_baton_official, convert_pairwise
from helpers import sine


@pytest.fixture
def official(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    names = [
        "0000_A dog barks and rain falls_0.wav",
        "0000_A dog barks and rain falls_1.wav",
        "0001_A siren then a bell then thunder_0.wav",
        "0002_An owl with wind_3.wav",
    ]
    for i, name in enumerate(names):
        sf.write(audio / name, sine(16000, 0.2, 300 + 100 * i), 16000)
    rows = [
        {
            "dataset": "2label_integrity",
            "location": f"/home/authors/audio/{names[0]}",
            "captions": "A dog barks and rain falls",
            "feedback": 1,
        },
        {
            "dataset": "2label_integrity",
            "location": f"/home/authors/audio/{names[1]}",
            "captions": "A dog barks and rain falls",
            "feedback": 0,
        },
        {
            "dataset": "3label_temporal",
            "location": f"C:\\data\\{names[2]}",
            "captions": "A siren then a bell then thunder",
            "SED": 0.73,
        },
    ]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    grouped = {"grouped_ratings": {"An owl with wind": {names[3]: 1.0}}}
    (tmp_path / "grouped_ratings_2label.json").write_text(json.dumps(grouped))
    return tmp_path


def test_convert_official_rows_and_grouped_ratings(official):
    ds = convert_baton_official(
        [official / "rows.json", official / "grouped_ratings_2label.json"], official / "audio"
    )
    assert ds["prompt"] == ["A dog barks and rain falls"] * 2 + [
        "A siren then a bell then thunder",
        "An owl with wind",
    ]
    assert ds["label"] == [1, 0, -1, 1]
    assert ds["source"] == ["human", "human", "reward_model", "human"]
    assert ds["reward"] == pytest.approx([1.0, 0.0, 0.73, 1.0])
    assert ds["task"] == ["integrity", "integrity", "temporal", "integrity"]
    assert ds[2]["audio"]["path"] == "0001_A siren then a bell then thunder_0.wav"


def test_missing_audio_is_reported_by_name(official, caplog):
    (official / "audio" / "0000_A dog barks and rain falls_1.wav").unlink()
    with pytest.raises(
        PreferenceDataError, match=r"row 1: audio file '0000_A dog barks and rain falls_1.wav' not found"
    ):
        convert_baton_official([official / "rows.json"], official / "audio")
    with caplog.at_level(logging.WARNING):
        ds = convert_baton_official([official / "rows.json"], official / "audio", skip_missing=True)
    assert len(ds) == 2
    assert "skipped 1 row(s) whose audio is missing" in caplog.text and "_1.wav" in caplog.text


def test_bad_official_values(official):
    (official / "bad.json").write_text(
        json.dumps([{"dataset": "2label", "location": "x.wav", "captions": "c", "feedback": 7}])
    )
    with pytest.raises(PreferenceDataError, match="row 0, key 'feedback': 7 is not 1, 0 or -1"):
        convert_baton_official([official / "bad.json"], official / "audio")
    (official / "unknown.json").write_text(
        json.dumps([{"dataset": "misc", "location": "x.wav", "captions": "c", "feedback": 1}])
    )
    with pytest.raises(ValueError, match="cannot tell the task"):
        convert_baton_official([official / "unknown.json"], official / "audio")
    (official / "nokey.json").write_text(json.dumps([{"dataset": "2label", "captions": "c", "feedback": 1}]))
    with pytest.raises(PreferenceDataError, match=r"missing key\(s\) \['location'\]"):
        convert_baton_official([official / "nokey.json"], official / "audio")


def _jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_official_json_lines_files_with_their_real_keys_and_duplicates(official, caplog):
    """``data/HA/*_HA.json`` and ``data/RM/*_RA.json`` are JSON Lines; ``grouped_ratings`` repeat the HA
    labels; RA rows of the 3-label task point into a ``2label_…_RD_Audio`` folder."""
    names = sorted(p.name for p in (official / "audio").iterdir())
    ha = [
        {
            "dataset": "2label_HA",
            "location": f"/home/hhn/bat/data/Audio/2label_Integrity_HD_Audio/{names[0]}",
            "captions": "A dog barks and rain falls",
            "feedback": 1,
        },
        {
            "dataset": "2label_HA",
            "location": f"/home/hhn/bat/data/Audio/2label_Integrity_HD_Audio/{names[3]}",
            "captions": "An owl with wind",
            "feedback": 1,
        },
    ]
    ra = [
        {
            "dataset": "3label_RA",
            "location": f"/home/hhn/bat/data/Audio/2label_Temporal_RD_Audio/{names[2]}",
            "captions": "A siren then a bell then thunder",
            "SED": 0.25,
        }
    ]
    _jsonl(official / "2label_HA.json", ha)
    _jsonl(official / "3label_RA.json", ra)
    files = [
        official / "2label_HA.json",
        official / "3label_RA.json",
        official / "grouped_ratings_2label.json",
    ]
    with caplog.at_level(logging.INFO, logger="baton_tta.data.converters"):
        ds = convert_baton_official(files, official / "audio")
    assert len(ds) == 3 and ds["task"] == ["integrity", "integrity", "temporal"]
    assert ds["source"] == ["human", "human", "reward_model"] and ds["reward"][2] == pytest.approx(0.25)
    assert "dropped 1 duplicate row(s)" in caplog.text and "2label_HA.json: 2 rows" in caplog.text


def test_clips_in_several_folders_and_the_label_balance(official, tmp_path, capsys):
    """HA rows live in the task's HD folder, RA rows in its RD folder: both folders are searched by
    file name, and the command prints rows per task and source with the label balance."""
    from baton_tta.scripts.convert_baton_official import main

    rd = official / "rd"
    rd.mkdir()
    names = sorted(p.name for p in (official / "audio").iterdir())
    (official / "audio" / names[2]).rename(rd / names[2])
    ha = [
        {
            "dataset": "2label_HA",
            "location": f"x/{names[0]}",
            "captions": "A dog barks and rain falls",
            "feedback": 1,
        },
        {
            "dataset": "2label_HA",
            "location": f"x/{names[1]}",
            "captions": "A dog barks and rain falls",
            "feedback": 0,
        },
    ]
    ra = [
        {"dataset": "2label_RA", "location": f"x/{names[2]}", "captions": "A siren then a bell", "SED": 0.5}
    ]
    _jsonl(official / "2label_HA.json", ha)
    _jsonl(official / "2label_RA.json", ra)
    files = [str(official / "2label_HA.json"), str(official / "2label_RA.json")]
    with pytest.raises(PreferenceDataError, match=r"not found in .*audio"):
        convert_baton_official(files, official / "audio")
    main(
        [
            "--json_files",
            *files,
            "--audio_dir",
            str(official / "audio"),
            str(rd),
            "--output_dir",
            str(tmp_path / "o"),
        ]
    )
    printed = capsys.readouterr().out
    assert "3 rows written" in printed
    assert (
        "integrity human: 2 (1 aligned, 1 not, 0 skip); integrity reward_model: 1 (mean reward 0.500)"
        in printed
    )


def test_a_json_array_without_brackets_reads_as_lines(tmp_path):
    """The release's ``test_audiocaps_subset.json``: one object per line, each ending in a comma."""
    from baton_tta.data.converters import read_json_records

    path = tmp_path / "test_audiocaps_subset.json"
    path.write_text(
        '{"location": "a/x_1.wav", "captions": "one"},\n{"location": "a/y_2.wav", "captions": "two"}\n'
    )
    assert [r["captions"] for r in read_json_records(path)] == ["one", "two"]
    path.write_text('{"location": "a/x_1.wav"},\n{"location": \n')
    with pytest.raises(PreferenceDataError, match="line 2: not a JSON object"):
        read_json_records(path)


def test_conflicting_duplicates_and_bad_values_are_named(official):
    names = sorted(p.name for p in (official / "audio").iterdir())
    _jsonl(
        official / "a_2label_HA.json",
        [{"dataset": "2label_HA", "location": names[3], "captions": "An owl with wind", "feedback": 0}],
    )
    with pytest.raises(
        PreferenceDataError, match=r"conflicting duplicates: '0002_An owl with wind_3.wav': label 0 .* vs 1"
    ):
        convert_baton_official(
            [official / "a_2label_HA.json", official / "grouped_ratings_2label.json"], official / "audio"
        )
    _jsonl(
        official / "b_2label_HA.json",
        [{"dataset": "2label_HA", "location": "x.wav", "captions": "c", "feedback": True}],
    )
    with pytest.raises(PreferenceDataError, match=r"row 0, key 'feedback': True is not 1, 0 or -1"):
        convert_baton_official([official / "b_2label_HA.json"], official / "audio")
    _jsonl(
        official / "c_3label_RA.json",
        [{"dataset": "3label_RA", "location": "x.wav", "captions": "c", "SED": "abc"}],
    )
    with pytest.raises(PreferenceDataError, match=r"row 0, key 'SED': 'abc' is not a number in \[0, 1\]"):
        convert_baton_official([official / "c_3label_RA.json"], official / "audio")
    (official / "d_2label_HA.json").write_text('{"dataset": "2label_HA"\n')
    with pytest.raises(PreferenceDataError, match=r"line \d: not JSON"):
        convert_baton_official([official / "d_2label_HA.json"], official / "audio")


def test_skip_missing_that_leaves_nothing_is_an_error(official):
    _jsonl(
        official / "e_2label_HA.json",
        [{"dataset": "2label_HA", "location": "gone.wav", "captions": "c", "feedback": 1}],
    )
    with pytest.raises(PreferenceDataError, match="no row has its audio file"):
        convert_baton_official([official / "e_2label_HA.json"], official / "audio", skip_missing=True)


def test_convert_pairwise_keeps_strategy(tmp_path):
    rows = {
        "prompt": ["a dog barks", "rain"],
        "chosen": [encode_audio(sine(16000, 0.2), 16000, f"c{i}.wav") for i in range(2)],
        "rejected": [encode_audio(sine(16000, 0.2, 900), 16000, f"r{i}.wav") for i in range(2)],
        "strategy": ["a", "b"],
    }
    data = Dataset.from_dict(rows)
    for column in ("chosen", "rejected"):
        data = data.cast_column(column, Audio(decode=False))
    data.to_parquet(str(tmp_path / "alpaca.parquet"))
    ds = convert_pairwise(tmp_path / "alpaca.parquet")
    assert ds.column_names == ["prompt", "chosen", "rejected", "strategy"] and ds["strategy"] == ["a", "b"]
    rows["rejected"][1] = {"bytes": b"junk", "path": "bad.wav"}
    Dataset.from_dict(rows).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(PreferenceDataError, match="row 1, column 'rejected': could not decode"):
        convert_pairwise(tmp_path / "bad.parquet")


def test_baton_audiocaps_list_becomes_pretrain_rows(tmp_path):
    """``train_audiocaps.json`` is JSON Lines of {dataset, location, captions}: the clips found by file
    name become pretrain rows with their clip id; a missing one is named."""
    from baton_tta.data.converters import convert_baton_audiocaps
    from baton_tta.scripts.convert_baton_audiocaps import main

    audio = tmp_path / "train"
    audio.mkdir()
    for i, stem in enumerate(("r1nicOVtvkQ_130", "UDGBjjwyaqE_20")):
        sf.write(audio / f"{stem}.wav", sine(16000, 0.2, 300 + 50 * i), 16000)
    rows = [
        {
            "dataset": "audiocaps",
            "location": "/data/hhn/data/audiocaps/train/r1nicOVtvkQ_130.wav",
            "captions": "A woman talks nearby as water pours",
        },
        {
            "dataset": "audiocaps",
            "location": "/data/hhn/data/audiocaps/train/UDGBjjwyaqE_20.wav",
            "captions": "Multiple clanging and clanking sounds",
        },
    ]
    _jsonl(tmp_path / "train_audiocaps.json", rows)
    main(
        [
            "--json_files",
            str(tmp_path / "train_audiocaps.json"),
            "--audio_dir",
            str(audio),
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    from baton_tta.data import load_preference_dataset

    pretrain = load_preference_dataset(tmp_path / "out", schema="pretrain")
    assert pretrain["clip_id"] == ["r1nicOVtvkQ_130", "UDGBjjwyaqE_20"] and pretrain["prompt"][1].startswith(
        "Multiple"
    )
    _jsonl(tmp_path / "more.json", [{"dataset": "audiocaps", "location": "/x/gone_1.wav", "captions": "c"}])
    with pytest.raises(PreferenceDataError, match=r"row 0: audio file 'gone_1.wav' not found"):
        convert_baton_audiocaps([tmp_path / "more.json"], audio)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"captions": ["A dog barks", "rain"]}, r"row 0, key 'captions': \['A dog barks', 'rain'\] \(list\)"),
        ({"captions": 12345}, r"row 0, key 'captions': 12345 \(int\) is not a non-empty string"),
        ({"captions": "  "}, r"row 0, key 'captions': '  ' \(str\) is not a non-empty string"),
        ({"location": {"path": "x.wav"}}, r"row 0, key 'location': \{'path': 'x.wav'\} \(dict\)"),
    ],
)
def test_converter_fields_of_the_wrong_type_are_named(official, bad, message):
    """A caption that is a list or a number reached Arrow (``ArrowTypeError``) or a dictionary key
    (``unhashable type: 'list'``) without naming the file or the row."""
    from baton_tta.data.converters import convert_baton_audiocaps

    row = {"dataset": "2label", "location": "x.wav", "captions": "c", "feedback": 1, **bad}
    (official / "bad.json").write_text(json.dumps([row]))
    with pytest.raises(PreferenceDataError, match=message) as error:
        convert_baton_official([official / "bad.json"], official / "audio")
    assert "bad.json" in str(error.value)
    with pytest.raises(PreferenceDataError, match=message):
        convert_baton_audiocaps([official / "bad.json"], official / "audio")


def test_grouped_ratings_of_the_wrong_shape_are_named(official):
    (official / "grouped_ratings_2label.json").write_text(
        json.dumps({"grouped_ratings": {"An owl": ["x.wav"]}})
    )
    with pytest.raises(PreferenceDataError, match=r"grouped_ratings\['An owl'\]: .* got list"):
        convert_baton_official([official / "grouped_ratings_2label.json"], official / "audio")
    (official / "grouped_ratings_2label.json").write_text(json.dumps({"grouped_ratings": [1, 2]}))
    with pytest.raises(PreferenceDataError, match="'grouped_ratings' is not a"):
        convert_baton_official([official / "grouped_ratings_2label.json"], official / "audio")
    (official / "rows.json").write_text(json.dumps([["not", "an", "object"]]))
    with pytest.raises(PreferenceDataError, match="row 0: expected an object, got list"):
        convert_baton_official([official / "rows.json"], official / "audio")
