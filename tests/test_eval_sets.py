"""Evaluation prompt sets from an AudioCaps-format CSV."""

from __future__ import annotations

import pytest

from baton_tta.data.eval_sets import build_eval_sets, count_event_clauses, event_clauses

CSV = """audiocap_id,youtube_id,start_time,caption
1,a,0,A man speaks and a dog barks
2,b,10,Birds chirp as wind blows and leaves rustle
3,c,20,A car engine idles
4,d,30,"A dog barks, followed by a siren"
5,e,40,Thunder rumbles then rain falls while people talk and a bell rings
6,f,50,A sandwich is being eaten
7,g,60,"Someone types, then a phone rings, after that a door closes"
8,h,70,A grandstand cheers
"""


def test_count_event_clauses():
    assert count_event_clauses("A man speaks and a dog barks") == 2
    assert count_event_clauses("A dog barks, followed by a siren") == 2
    assert count_event_clauses("First a horn, then an engine, then birds") == 3
    assert count_event_clauses("Sandwiches and chips") == 2
    # one event described twice: qualities of one sound, a pronoun taking the subject up again
    assert event_clauses("Constant rattling noise and sharp vibrations") == [
        "Constant rattling noise and sharp vibrations"
    ]
    assert event_clauses("An engine hums as it idles") == ["An engine hums as it idles"]
    assert count_event_clauses("Wind noise and a man speaks") == 2
    # three sources heard together are three events
    assert event_clauses("A man speaks as birds chirp and dogs bark") == [
        "A man speaks",
        "birds chirp",
        "dogs bark",
    ]


def test_sampling_to_the_paper_sizes(tmp_path):
    rows = "\n".join(f"{i},y{i},0,A dog barks and bird {i} sings" for i in range(30))
    (tmp_path / "test.csv").write_text("audiocap_id,youtube_id,start_time,caption\n" + rows + "\n")
    integrity, temporal, report = build_eval_sets(tmp_path / "test.csv", sizes={"integrity": 12}, seed=3)
    ids = [int(i) for i in integrity["audiocap_id"]]
    assert len(ids) == 12 and ids == sorted(ids) and len(set(ids)) == 12  # input order kept
    again, _, _ = build_eval_sets(tmp_path / "test.csv", sizes={"integrity": 12}, seed=3)
    other, _, _ = build_eval_sets(tmp_path / "test.csv", sizes={"integrity": 12}, seed=4)
    assert again["audiocap_id"] == integrity["audiocap_id"] != other["audiocap_id"]
    assert "integrity: 12 sampled of 30" in report.describe() and len(temporal) == 0
    with pytest.raises(ValueError, match="asked for 31 integrity captions, 30 qualify"):
        build_eval_sets(tmp_path / "test.csv", sizes={"integrity": 31})


def test_build_eval_sets(tmp_path):
    (tmp_path / "test.csv").write_text(CSV)
    integrity, temporal, report = build_eval_sets(tmp_path / "test.csv")
    assert integrity["audiocap_id"] == ["1", "4"]
    assert integrity["prompt"] == ["A man speaks and a dog barks", "A dog barks, followed by a siren"]
    assert temporal["audiocap_id"] == ["2", "7"]
    assert set(temporal["task"]) == {"temporal"} and set(temporal["num_events"]) == {3}
    assert (report.total, report.integrity, report.temporal) == (8, 2, 2)
    assert report.excluded == {"without a conjunction keyword": 3, "with 4 event clause(s)": 1}
    assert "excluded: 1 with 4 event clause(s), 3 without a conjunction keyword" in report.describe()
    again = build_eval_sets(tmp_path / "test.csv")
    assert again[0].to_dict() == integrity.to_dict()  # deterministic


def test_eval_set_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("id,caption\n1,x\n")
    with pytest.raises(
        ValueError, match=r"missing column\(s\) \['audiocap_id', 'youtube_id', 'start_time'\]"
    ):
        build_eval_sets(tmp_path / "bad.csv")
    (tmp_path / "empty.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n1,a,0,ok and fine\n2,b,0,\n"
    )
    with pytest.raises(ValueError, match="line 3, column 'caption': empty caption"):
        build_eval_sets(tmp_path / "empty.csv")


def test_official_baton_test_sets_import_with_their_clip_ids(tmp_path):
    """The release's curated sets are JSON arrays of {dataset, location, captions} (one row even says
    "datasetresult"); the clip id is the AudioSet file stem, which names the reference recordings."""
    import json

    from baton_tta.scripts.build_eval_sets import main

    rows = [
        {
            "dataset": "audiocaps",
            "location": "/data/deep/audioset/data/7fmOlUlwoNg_20.wav",
            "captions": "A machine is making clicking sound as people talk in the background",
        },
        {
            "datasetresult": "audiocaps",
            "location": "/data/deep/audioset/data/tfOIhQpYYe8_60.wav",
            "captions": "A helicopter flying as a man talks in the background",
        },
    ]
    (tmp_path / "test_audiocaps_2label.json").write_text(json.dumps(rows, indent=4))
    main(
        [
            "--baton_integrity_json",
            str(tmp_path / "test_audiocaps_2label.json"),
            "--output_dir",
            str(tmp_path / "sets"),
        ]
    )
    from datasets import load_from_disk

    integrity = load_from_disk(str(tmp_path / "sets" / "integrity"))
    assert integrity["clip_id"] == ["7fmOlUlwoNg_20", "tfOIhQpYYe8_60"] and set(integrity["task"]) == {
        "integrity"
    }
    assert integrity["prompt"][1].startswith("A helicopter")
    (tmp_path / "broken.json").write_text(json.dumps([{"dataset": "audiocaps", "captions": "x"}]))
    from baton_tta.data.eval_sets import official_eval_set

    with pytest.raises(ValueError, match=r"row 0: missing key\(s\) \['location'\]"):
        official_eval_set(tmp_path / "broken.json", "integrity")
