"""Contributors on the Hub: label stores backed up to a Hub dataset by a CommitScheduler (two app
instances, a restart that resumes from the Hub, a SIGKILL during scheduled commits), and
``merge-labels`` over backups, exports and a converted BATON excerpt against a hand-computed
majority and Fleiss' κ — all against the loopback Hub server with the real ``huggingface_hub``."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from datasets import Dataset
from huggingface_hub import HfApi

from baton_tta.annotate import ClipSet, LabelStore
from baton_tta.annotate.backup import BackedUpStore, HubLabelBackup, read_events, restore_store
from baton_tta.annotate.merge import LabelSource, content_key, merge_sources
from baton_tta.data import load_preference_dataset
from baton_tta.data.audio import decode_audio
from baton_tta.toy.datasets import toy_preference_dataset

REPO = Path(__file__).parents[1]


def _clips(folder: Path, prompts: int = 2) -> Path:
    dataset = toy_preference_dataset(num_prompts=prompts, clips_per_prompt=2, seed=5)
    dataset = dataset.map(lambda row: {"label": -1, "source": "unlabelled", "annotator": ""})
    dataset.save_to_disk(str(folder))
    return folder


def _reencoded(row: dict, fmt: str = "WAV") -> dict:
    """The same clip written again in another container: other bytes, the same samples."""
    buffer = io.BytesIO()
    sf.write(buffer, decode_audio(row["audio"], 16000), 16000, format=fmt, subtype="PCM_16")
    return {"bytes": buffer.getvalue(), "path": f"clip.{fmt.lower()}"}


def test_merge_is_a_hand_majority_with_fleiss_kappa_conflicts_and_duplicates(tmp_path):
    clips = load_preference_dataset(str(_clips(tmp_path / "clips")))  # 4 clips, 2 tasks' worth of rows
    clips = clips.map(lambda row: {"task": "integrity"})
    rows = list(clips.with_format(None))
    # an export of the app (votes / voters per clip), clips c0..c3
    export = clips.map(
        lambda row, i: {
            "votes": [[1, 1], [0, 1], [1, 0], [0]][i],
            "voters": [["alice", "bob"], ["alice", "bob"], ["alice", "bob"], ["alice"]][i],
            "source": "human",
        },
        with_indices=True,
    )
    # a converted BATON excerpt: c0 and c3 re-encoded as WAV (other bytes, same samples), by other people
    baton = Dataset.from_list(
        [
            {**rows[0], "audio": _reencoded(rows[0]), "label": 1, "source": "human", "annotator": "carol"},
            {**rows[3], "audio": _reencoded(rows[3]), "label": 1, "source": "human", "annotator": "alice"},
        ]
    ).cast(clips.features)
    # a backup-like source: carol on c1 (0) and a skip on c2
    backup = LabelSource("backup", clips, [(1, "carol", 0), (2, "carol", -1)])
    merged, report = merge_sources(
        [LabelSource.from_dataset("export", export), LabelSource.from_dataset("baton", baton), backup]
    )
    assert content_key(rows[0]["prompt"], rows[0]["audio"]) == content_key(
        rows[0]["prompt"], baton[0]["audio"]
    )
    assert len(merged) == 4  # the re-encoded clips are the same clips
    by_key = {row["clip_key"]: row for row in merged}
    c = [by_key[content_key(r["prompt"], r["audio"])] for r in rows]
    # c0: alice 1, bob 1, carol 1 → 1; c1: alice 0, bob 1, carol 0 → 0; c2: alice 1, bob 0, carol skip → tie
    # c3: alice said 0 in the export and 1 in the BATON excerpt → a conflict: neither counts, no votes left
    assert [row["label"] for row in c] == [1, 0, -1, -1]
    assert c[0]["voters"] == ["alice", "bob", "carol"] and c[0]["sources"] == ["backup", "baton", "export"]
    assert c[2]["votes"] == [1, 0, -1] and c[3]["votes"] == [] and c[3]["source"] == "unlabelled"
    assert [(x["annotator"], x["votes"]) for x in report.conflicts] == [("alice", {"export": 0, "baton": 1})]
    assert len(report.duplicates) == 2 + 4  # the excerpt's two clips, and the backup's four rows again
    # Fleiss' κ by hand over c0 [1,1,1], c1 [0,1,0], c2 [1,0]: P̄ = (1 + 1/3 + 0)/3 = 4/9;
    # p(1) = 5/8, p(0) = 3/8, Pₑ = 34/64; κ = (4/9 − 17/32)/(1 − 17/32)
    expected = (4 / 9 - 17 / 32) / (1 - 17 / 32)
    assert report.tasks["integrity"]["fleiss_kappa"] == pytest.approx(expected)
    # alice against the others' majority: c0 (bob+carol 1: agrees), c1 (bob 1, carol 0: tie, not
    # counted), c2 (bob 0: disagrees) → 1 of 2
    assert report.annotators["alice"]["agreement_with_others"] == pytest.approx(0.5)
    assert report.sources["backup"]["votes"] == 2 and report.sources["baton"]["clips"] == 2
    text = report.markdown()
    assert "| integrity | 4 |" in text and "Conflicts" in text and "alice" in text


def test_two_instances_back_up_to_one_dataset_and_a_restart_resumes(tmp_path, loopback_hub):
    clips = ClipSet.load(str(_clips(tmp_path / "clips")))
    ids = clips.clip_ids
    stores = []
    for name in ("alice", "bob"):
        backup = HubLabelBackup(
            "baton/labels",
            tmp_path / f"{name}.backup",
            every_minutes=10,
            clips={"dataset": str(tmp_path / "clips")},
        )
        stores.append((name, BackedUpStore(tmp_path / f"{name}.sqlite", "test", backup)))
    for (name, store), labels in zip(stores, ([1, 0, 1], [1, 1, 0, -1]), strict=True):
        for clip_id, label in zip(ids, labels, strict=False):
            store.add(clip_id, name, label)
    stores[0][1].undo_last("alice")  # alice withdraws her third label
    for _, store in stores:
        store.backup.close()  # the commit at shutdown
    files = HfApi().list_repo_files("baton/labels", repo_type="dataset")
    assert sorted(f.split("/")[0] for f in files if f.endswith(".jsonl")) == ["labels", "labels"]
    assert "clips.json" in files
    # a restarted instance with an empty disk gets every standing label back, and replaying again adds nothing
    fresh = LabelStore(tmp_path / "restarted.sqlite", "test")
    assert restore_store(fresh, "baton/labels", tmp_path / "restored") == 3 + 4
    assert restore_store(fresh, "baton/labels", tmp_path / "restored-again") == 0
    standing = {(v.clip_id, v.annotator, v.label) for v in fresh.votes()}
    assert standing == {(ids[0], "alice", 1), (ids[1], "alice", 0)} | {
        (ids[k], "bob", label) for k, label in enumerate([1, 1, 0, -1])
    }
    # merge-labels reads the backup straight from the Hub, with the clips its manifest names
    from baton_tta.scripts.merge_labels import main

    out = tmp_path / "merged"
    main(
        [
            "--sources",
            "baton/labels",
            "--output_dir",
            str(out),
            "--push_to_hub",
            "--hub_dataset_id",
            "baton/merged",
        ]
    )
    merged = load_preference_dataset(str(out))
    assert sorted(merged["label"]) == sorted([1, -1, 0, -1])  # c0 1+1; c1 0 vs 1 tie; c2 bob 0; c3 skip
    assert json.loads((out / "merge.json").read_text())["annotators"]["bob"]["votes"] == 4
    repo = loopback_hub.state.repos[("dataset", "baton/merged")]
    assert len(repo.commits) == 2  # creation, then rows + card in one commit
    card = HfApi().hf_hub_download("baton/merged", "README.md", repo_type="dataset", cache_dir=tmp_path / "c")
    assert "## Contributors and agreement" in Path(card).read_text() and "bob" in Path(card).read_text()


WRITER = """
import sys, time
from baton_tta.annotate.backup import BackedUpStore, HubLabelBackup
backup = HubLabelBackup("baton/live", sys.argv[1], every_minutes=float(sys.argv[3]))
store = BackedUpStore(sys.argv[2], "test", backup)
for k in range(100000):
    store.add(f"clip-{k}", "dora", k % 2)
    print(k, time.monotonic(), flush=True)
    time.sleep(0.01)
"""


@pytest.mark.slow
def test_a_sigkill_during_scheduled_commits_loses_at_most_an_interval(tmp_path, loopback_hub):
    """A writer labels every 10 ms while the scheduler commits every 0.6 s; SIGKILL it: the Hub
    dataset reads cleanly and holds every label acknowledged one interval (plus a commit) before."""
    interval_minutes = 0.01
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "0"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(tmp_path / "backup"),
            str(tmp_path / "w.sqlite"),
            str(interval_minutes),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    acknowledged: list[tuple[int, float]] = []
    api = HfApi()
    try:
        deadline = time.monotonic() + 120
        commits = 0
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            k, at = line.split()
            acknowledged.append((int(k), float(at)))
            if len(acknowledged) % 20 == 0 and api.repo_exists("baton/live", repo_type="dataset"):
                commits = len(loopback_hub.state.repos[("dataset", "baton/live")].commits)
                if commits >= 4:  # several scheduled commits made: kill during the next
                    break
        killed_at = time.monotonic()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert commits >= 4
    fresh = LabelStore(tmp_path / "restored.sqlite", "test")
    restored = restore_store(fresh, "baton/live", tmp_path / "download")
    events = read_events(tmp_path / "download")  # every committed line reads (a cut last one is skipped)
    assert restored == len(events) and restored > 0
    # no gap: the Hub holds a prefix of what the writer acknowledged
    assert sorted(v.clip_id for v in fresh.votes()) == sorted(f"clip-{k}" for k in range(restored))
    lost = [at for k, at in acknowledged if k >= restored]
    window = interval_minutes * 60 + 2.0  # one interval, plus a commit's own round trip
    assert all(killed_at - at <= window for at in lost), (len(lost), killed_at - min(lost, default=killed_at))
    print(
        f"SIGKILL: {len(acknowledged)} labels acknowledged, {restored} on the Hub, {len(lost)} lost "
        f"(the last {killed_at - min(lost, default=killed_at):.2f} s; interval {interval_minutes * 60:.1f} s)"
    )
