"""The label store, agreement maths, export and the launcher, without a browser."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading

import pytest
from sklearn.metrics import cohen_kappa_score

from baton_tta.annotate import (
    ClipSet,
    LabelStore,
    agreement_report,
    cohen_kappa,
    export_annotations,
    fleiss_kappa,
    majority_label,
    percent_agreement,
    write_export,
)
from baton_tta.data import load_preference_dataset
from baton_tta.toy.datasets import toy_preference_dataset


@pytest.fixture(scope="module")
def clip_dataset():
    """Clips as generate-audio writes them: nobody has labelled them yet."""
    labelled = toy_preference_dataset(num_prompts=4, clips_per_prompt=3, seed=3)
    return labelled.map(lambda row: {"label": -1, "source": "unlabelled", "annotator": ""})


@pytest.fixture(scope="module")
def labelled_dataset():
    """The same clips with human labels already (the oracle's), as an earlier export or a converted file."""
    return toy_preference_dataset(num_prompts=4, clips_per_prompt=3, seed=3)


# ---------------------------------------------------------------- store
def test_store_records_undoes_and_keeps_the_log(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite", app_version="9.9")
    first = store.add("clip-a", "  Alice  ", 1)
    store.add("clip-b", "Alice", 0)
    store.add("clip-a", "bob", -1)
    assert store.labelled_by("Alice") == {"clip-a", "clip-b"}
    undone = store.undo_last("Alice")
    assert undone.clip_id == "clip-b" and undone.label == 0
    assert store.labelled_by("Alice") == {"clip-a"}
    votes = store.votes()
    assert [(v.clip_id, v.annotator, v.label, v.app_version) for v in votes] == [
        ("clip-a", "alice", 1, "9.9"),  # names are stored normalised: one person, one name
        ("clip-a", "bob", -1, "9.9"),
    ]
    assert votes[0].id == first
    log = store.log()
    assert len(log) == 3 and log[1][6] is not None  # the undone row is kept, marked undone
    assert store.undo_last("nobody") is None
    with sqlite3.connect(tmp_path / "labels.sqlite") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_relabel_keeps_latest_vote(tmp_path):
    store = LabelStore(tmp_path / "labels.sqlite", app_version="1")
    store.add("clip", "ann", 1)
    store.add("clip", "ann", 0)
    assert [v.label for v in store.votes()] == [0]
    store.undo_last("ann")
    assert [v.label for v in store.votes()] == [1]


@pytest.mark.parametrize(
    ("clip", "annotator", "label", "message"),
    [
        ("c", "ann", 2, "label must be one of"),
        ("c", "   ", 1, "annotator name"),
        ("c", "x" * 65, 1, "64 at most"),
    ],
)
def test_store_refuses_bad_labels(tmp_path, clip, annotator, label, message):
    store = LabelStore(tmp_path / "labels.sqlite", app_version="1")
    with pytest.raises(ValueError, match=message):
        store.add(clip, annotator, label)
    assert store.log() == []


def _write_labels(path: str, worker: int, count: int) -> None:
    store = LabelStore(path, app_version="1", timeout=60)
    threads = []

    def write(thread: int) -> None:
        for i in range(count):
            store.add(f"clip-{i}", f"w{worker}-t{thread}", i % 2)
        store.undo_last(f"w{worker}-t{thread}")

    for thread in range(2):
        threads.append(threading.Thread(target=write, args=(thread,)))
        threads[-1].start()
    for thread in threads:
        thread.join()


def test_store_under_concurrent_processes_and_threads(tmp_path):
    path = str(tmp_path / "labels.sqlite")
    LabelStore(path, app_version="1")
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_labels, args=(path, w, 40)) for w in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    store = LabelStore(path, app_version="1")
    log = store.log()
    assert len(log) == 3 * 2 * 40
    assert len({row[0] for row in log}) == len(log)
    votes = store.votes()
    assert len(votes) == 3 * 2 * 39  # each writer undid its last label
    for worker in range(3):
        for thread in range(2):
            assert store.labelled_by(f"w{worker}-t{thread}") == {f"clip-{i}" for i in range(39)}


# ---------------------------------------------------------------- agreement, against hand-worked numbers
@pytest.mark.parametrize(
    ("votes", "expected"),
    [
        ([1, 1, 0], 1),
        ([0, 0, 1, -1], 0),
        ([1, 0], -1),
        ([1, -1, 0], -1),
        ([-1, -1], -1),
        ([], -1),
        ([1, -1], 1),
    ],
)
def test_majority_label_and_tie_rule(votes, expected):
    assert majority_label(votes) == expected


def test_cohen_kappa_hand_worked():
    first = [1, 1, 0, 0, 1, 0, 1, 1, 0, 1]
    second = [1, 0, 0, 0, 1, 1, 1, 1, 0, 1]
    # observed 8/10; both say "aligned" 6/10 → expected 0.6·0.6 + 0.4·0.4 = 0.52; (0.8 − 0.52)/0.48
    assert cohen_kappa(first, second) == pytest.approx(0.28 / 0.48)
    assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second))
    assert cohen_kappa([1, -1, 0], [1, 1, -1]) == 1.0  # only one usable pair, and it agrees
    assert cohen_kappa([-1], [1]) is None


def test_fleiss_kappa_and_percent_agreement_hand_worked():
    clips = [[1, 1, 1], [1, 1, 0], [0, 0, 0], [1, 0, 0]]
    # P_i = 1, 1/3, 1, 1/3 → P̄ = 2/3; p(aligned) = 6/12 → P_e = 0.5; κ = (2/3 − 1/2)/(1/2) = 1/3
    assert percent_agreement(clips) == pytest.approx(2 / 3)
    assert fleiss_kappa(clips) == pytest.approx(1 / 3)
    assert fleiss_kappa([[1, -1], [0]]) is None  # no clip with two usable votes
    # varying raters: a skip just removes a rater from that clip
    assert fleiss_kappa([[1, 1, -1], [0, 0], [1, 0]]) == pytest.approx((2 / 3 - 0.5) / 0.5)


def test_agreement_report_counts_balance_per_task():
    report = agreement_report(
        ["a", "b", "c"],
        ["integrity", "integrity", "temporal"],
        [("a", "x", 1), ("a", "y", 1), ("b", "x", 1), ("b", "y", 0), ("c", "x", -1), ("zzz", "x", 1)],
    )
    assert report.clips == 3 and report.labelled_clips == 3 and report.votes == 5 and report.skips == 1
    assert report.annotators == ["x", "y"]
    assert report.label_balance == {
        "integrity": {"aligned": 1, "not_aligned": 0, "none": 1},
        "temporal": {"aligned": 0, "not_aligned": 0, "none": 1},
    }
    assert report.percent_agreement == pytest.approx(0.5)
    assert report.cohen_kappa == pytest.approx(cohen_kappa_score([1, 1], [1, 0]))
    assert "| integrity | 1 | 0 | 1 |" in report.markdown()


# ---------------------------------------------------------------- clips and export
def test_clip_ids_are_stable_and_orders_are_seeded_per_annotator(clip_dataset):
    clips = ClipSet(clip_dataset, seed=1)
    again = ClipSet(clip_dataset.shuffle(seed=5), seed=1)
    assert set(clips.clip_ids) == set(again.clip_ids)
    assert clips.order_for("alice") == again.order_for("alice")
    assert clips.order_for("alice") != clips.order_for("bob")
    assert sorted(clips.order_for("alice")) == sorted(clips.clip_ids)
    rate, samples = clips.waveform(clips.clip_ids[0])
    assert rate == 16000 and samples.dtype.name == "int16" and samples.shape == (16000,)


def test_clip_set_refuses_duplicate_rows(clip_dataset):
    from datasets import concatenate_datasets

    with pytest.raises(ValueError, match="1 row"):
        ClipSet(concatenate_datasets([clip_dataset, clip_dataset.select([0])]))


def test_export_round_trips_through_the_loader(tmp_path, clip_dataset):
    clips = ClipSet(clip_dataset)
    store = LabelStore(tmp_path / "labels.sqlite", app_version="1")
    a, b, c = clips.clip_ids[:3]
    for annotator, label in (("x", 1), ("y", 1), ("z", 0)):
        store.add(a, annotator, label)  # 2–1 → aligned
    store.add(b, "x", 1)
    store.add(b, "y", 0)  # tie → no usable label
    store.add(c, "x", -1)  # skip only → no usable label
    store.add("not-in-this-dataset", "x", 1)
    dataset, report = export_annotations(clips, store)
    out = write_export(dataset, report, tmp_path / "export")
    loaded = load_preference_dataset(str(out))
    assert len(loaded) == len(clip_dataset)
    rows = {row["clip_id"]: row for row in loaded}
    assert rows[a]["label"] == 1 and rows[a]["votes"] == [1, 1, 0] and rows[a]["voters"] == ["x", "y", "z"]
    assert rows[a]["reward"] == pytest.approx(2 / 3) and rows[a]["source"] == "human"
    assert rows[b]["label"] == -1 and rows[b]["source"] == "human"
    assert rows[c]["label"] == -1 and rows[c]["votes"] == [-1]
    untouched = [row for cid, row in rows.items() if cid not in (a, b, c)]
    assert all(row["source"] == "unlabelled" and row["votes"] == [] for row in untouched)
    assert [row["prompt"] for row in loaded] == clip_dataset["prompt"]  # audio and captions carried over
    saved = json.loads((out / "agreement.json").read_text())
    assert saved["votes"] == 6 and saved["fleiss_kappa"] == pytest.approx(report.fleiss_kappa)


def test_exporting_labelled_clips_with_an_empty_store_keeps_every_label(tmp_path, labelled_dataset):
    """Found by the trust probe: 16 human labels + an empty store exported as 16 × -1."""
    clips = ClipSet(labelled_dataset)
    dataset, _ = export_annotations(clips, LabelStore(tmp_path / "empty.sqlite", app_version="1"))
    assert dataset["label"] == labelled_dataset["label"] and set(dataset["source"]) == {"human"}
    assert dataset["voters"][0] == ["oracle"]
    # re-exported, the earlier export's votes are kept too, and new votes merge with them
    store = LabelStore(tmp_path / "more.sqlite", app_version="1")
    first = clips.clip_ids[0]
    store.add(first, "alice", 1 - labelled_dataset["label"][0])
    store.add(first, "bob", 1 - labelled_dataset["label"][0])
    again, _ = export_annotations(ClipSet(dataset), store)
    row = again[0]
    assert row["voters"] == ["alice", "bob", "oracle"] and row["label"] == 1 - labelled_dataset["label"][0]
    assert again["label"][1:] == labelled_dataset["label"][1:]


def test_launcher_export_pushes_with_a_card(tmp_path, clip_dataset, loopback_hub, monkeypatch, capsys):
    from baton_tta.scripts import annotate, export_labels

    clip_dataset.save_to_disk(str(tmp_path / "clips"))
    store = LabelStore(tmp_path / "labels.sqlite", app_version="1")
    store.add(ClipSet(clip_dataset).clip_ids[0], "x", 1)
    export_labels.main(
        [
            "--dataset",
            str(tmp_path / "clips"),
            "--store",
            str(tmp_path / "labels.sqlite"),
            "--output_dir",
            str(tmp_path / "out"),
            "--push_to_hub",
            "--hub_dataset_id",
            "someone/toy-labels",
        ]
    )
    printed = capsys.readouterr().out
    assert "| integrity |" in printed and f"written to {(tmp_path / 'out').resolve()}" in printed
    pulled = load_preference_dataset("someone/toy-labels")
    assert len(pulled) == len(clip_dataset) and sorted(pulled["label"]).count(1) == 1
    serve = annotate.ServeArguments(dataset="d", store="s")
    assert serve.host == "127.0.0.1" and serve.share is False and serve.auth == []
    assert annotate.parse_auth(["Ann:secret"]) == [("ann", "secret")]
    # the README's form: one --auth per person; every one counts (argparse alone kept only bob)
    from baton_tta.scripts.utils import parse

    argv = ["--dataset", "d", "--auth", "alice:pwa", "--store", "s", "--auth", "bob:pwb", "--auth=carol:pwc"]
    (parsed,) = parse((annotate.ServeArguments,), argv, repeatable=["--auth"])
    assert annotate.parse_auth(parsed.auth) == [("alice", "pwa"), ("bob", "pwb"), ("carol", "pwc")]
    assert parsed.store == "s"
    with pytest.raises(SystemExit, match="user:password"):
        annotate.parse_auth(["no-colon"])


def test_a_corrupt_data_page_names_the_store_file(tmp_path):
    """Found by the third trust pass: a damaged page past the schema opened fine and then failed
    with a bare ``DatabaseError`` that named no file."""
    from baton_tta.annotate.store import LabelStore, LabelStoreError

    path = tmp_path / "labels.sqlite"
    store = LabelStore(path, app_version="test")
    for i in range(400):
        store.add(f"clip-{i:04d}-" + "x" * 64, "ada", i % 2)
    size = path.stat().st_size
    assert size > 8 * 4096 and not (tmp_path / "labels.sqlite-wal").exists()
    with path.open("r+b") as file:  # garble pages 3..6, leave the schema on page 1 intact
        file.seek(2 * 4096)
        file.write(b"\xff" * (4 * 4096))
    reopened = LabelStore(path, app_version="test")
    with pytest.raises(
        LabelStoreError, match=rf"{path}: the label store failed \(DatabaseError: .*malformed"
    ):
        reopened.votes()


def test_a_scorer_pre_ranks_the_queue_least_sure_first_and_labels_nothing(clip_dataset):
    """The optional pre-ranking: clips nearest 0.5 first, each annotator's own order within ties."""

    class ByLength:  # a stand-in scorer: a score per clip that the test can predict
        def __init__(self):
            self.calls = 0

        def score(self, prompts, audios, sampling_rate):
            self.calls += 1
            return [0.5 if "and" in p else 0.9 for p in prompts]

    clips = ClipSet(clip_dataset, seed=1)
    plain = clips.order_for("alice")
    scorer = ByLength()
    scores = clips.prerank(scorer, batch_size=5)
    assert scorer.calls == 3 and set(scores) == set(clips.clip_ids)  # 12 clips in batches of 5, each once
    ranked = clips.order_for("alice")
    unsure = [c for c in ranked if scores[c] == 0.5]
    assert ranked[: len(unsure)] == unsure and 0 < len(unsure) < len(ranked)
    assert unsure == [c for c in plain if scores[c] == 0.5]  # ties keep alice's own order
    bob = clips.order_for("bob")
    assert set(bob[: len(unsure)]) == set(unsure)  # everyone's queue starts with the unsure clips
    assert list(clip_dataset["label"]) == [-1] * len(clip_dataset)  # nothing was labelled

    class FailsInBatch2(ByLength):  # found by the trust pass: a traceback, and the app never served
        def score(self, prompts, audios, sampling_rate):
            if self.calls == 1:
                raise RuntimeError("CUDA out of memory")
            return super().score(prompts, audios, sampling_rate)

    from baton_tta.data.settings import SettingsError

    with pytest.raises(
        SettingsError, match=r"pre-ranking failed on clips 5-9 \(RuntimeError: CUDA out of memory\)"
    ):
        ClipSet(clip_dataset, seed=1).prerank(FailsInBatch2(), batch_size=5)


def test_export_refuses_a_missing_or_empty_store_and_writes_nothing(tmp_path, clip_dataset):
    """Found by the new-user probe: a mistyped --store created an empty store and "exported" 0 labels.
    A missing store is an error naming it (and no store is created); a store with no label for these
    clips is an error too, and nothing is written."""
    from baton_tta.scripts import export_labels

    clip_dataset.save_to_disk(str(tmp_path / "clips"))
    argv = ["--dataset", str(tmp_path / "clips"), "--output_dir", str(tmp_path / "out")]
    missing = tmp_path / "lables.sqlite"
    with pytest.raises(SystemExit, match=f"no label store at {missing}: check --store.*baton-tta annotate"):
        export_labels.main([*argv, "--store", str(missing)])
    assert not missing.exists()
    LabelStore(tmp_path / "empty.sqlite", app_version="1")
    with pytest.raises(SystemExit, match=r"none of the \d+ clips .* has a label in .*empty\.sqlite"):
        export_labels.main([*argv, "--store", str(tmp_path / "empty.sqlite")])
    assert not (tmp_path / "out").exists()
