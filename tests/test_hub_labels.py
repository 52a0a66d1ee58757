"""Contributors on the Hub: label stores backed up to a Hub dataset by a CommitScheduler (two app
instances, a restart that resumes from the Hub, a SIGKILL during scheduled commits), and
``merge-labels`` over backups, exports and a converted BATON excerpt against a hand-computed
majority and Fleiss' κ — all against the loopback Hub server with the real ``huggingface_hub``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from huggingface_hub import HfApi
from hypothesis import given, settings
from hypothesis import strategies as st

from baton_tta.annotate import ClipSet, LabelStore
from baton_tta.annotate.backup import BackedUpStore, HubLabelBackup, read_events, restore_store
from baton_tta.data import load_preference_dataset
from baton_tta.data.audio import decode_audio
from baton_tta.data.duplicates import clip_key
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


def _backup_folder(folder: Path, clips: Path, events: list[tuple[str, str, int]], undone: int = 0) -> Path:
    """A backup as the app writes it: ``clips.json`` and an instance file of label (and undo) events."""
    (folder / "labels").mkdir(parents=True)
    (folder / "clips.json").write_text(json.dumps({"dataset": str(clips), "split": "train"}))
    lines = [
        {
            "event": "label",
            "uid": f"{folder.name}-{n}",
            "clip_id": clip,
            "annotator": who,
            "label": label,
            "created_at": f"2026-12-01T10:00:{n:02d}+00:00",
            "app_version": "test",
        }
        for n, (clip, who, label) in enumerate(events)
    ]
    lines += [
        {"event": "undo", "uid": f"{folder.name}-{n}", "undone_at": "2026-12-01T11:00:00+00:00"}
        for n in range(undone)
    ]
    (folder / "labels" / "instance.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


def test_merge_of_two_backups_and_a_converted_baton_excerpt_is_the_hand_majority_and_kappa(tmp_path):
    from baton_tta.data.converters import convert_baton_official
    from baton_tta.scripts.merge_labels import main

    clips_dir = _clips(tmp_path / "clips")
    clips = ClipSet.load(str(clips_dir))
    rows = list(clips.dataset.with_format(None))
    c = clips.clip_ids
    # alice's Space instance (her first c0 label undone, then given again), and bob's; alice also
    # labelled c3 on bob's instance, the other way: a conflict
    _backup_folder(
        tmp_path / "alice",
        clips_dir,
        [(c[0], "alice", 0), (c[0], "alice", 1), (c[1], "alice", 0), (c[2], "alice", 1), (c[3], "alice", 0)],
        undone=1,
    )
    _backup_folder(
        tmp_path / "bob",
        clips_dir,
        [(c[0], "bob", 1), (c[1], "bob", 1), (c[2], "bob", 0), (c[3], "alice", 1)],
    )
    # the official BATON files for c0 and c3: WAVs written again from the clips (other bytes, same samples)
    audio = tmp_path / "baton-audio"
    audio.mkdir()
    official = []
    for k in (0, 3):
        sf.write(audio / f"{k:04d}.wav", decode_audio(rows[k]["audio"], 16000), 16000, subtype="PCM_16")
        official.append(
            {
                "dataset": "2label_integrity",
                "location": f"/authors/{k:04d}.wav",
                "captions": rows[k]["prompt"],
                "feedback": 1,
            }
        )
    (tmp_path / "baton.json").write_text(json.dumps(official))
    convert_baton_official([tmp_path / "baton.json"], audio).save_to_disk(str(tmp_path / "baton"))
    out = tmp_path / "merged"
    main(
        [
            "--sources",
            str(tmp_path / "alice"),
            str(tmp_path / "bob"),
            str(tmp_path / "baton"),
            "--output_dir",
            str(out),
        ]
    )
    merged = load_preference_dataset(str(out))
    assert len(merged) == 4  # the re-encoded BATON clips are the same clips
    by_key = {row["clip_key"]: row for row in merged}
    m = [by_key[clip_key(r["prompt"], r["audio"])] for r in rows]
    # c0: alice 1, bob 1, BATON 1 → 1; c1: alice 0, bob 1 → tie; c2: alice 1, bob 0 → tie;
    # c3: alice 0 on her instance, 1 on bob's → neither counts; BATON 1 → 1
    assert [row["label"] for row in m] == [1, -1, -1, 1]
    baton = str(tmp_path / "baton")
    assert m[0]["voters"] == ["alice", "bob", baton] and m[3]["voters"] == [baton]
    assert m[0]["sources"] == sorted([str(tmp_path / "alice"), str(tmp_path / "bob"), baton])
    report = json.loads((out / "merge.json").read_text())
    assert [(x["annotator"], sorted(x["votes"].values())) for x in report["conflicts"]] == [("alice", [0, 1])]
    assert len(report["duplicates"]) == 4 + 2  # bob's backup names the same 4 clips; BATON gives 2
    # Fleiss' κ by hand, per task (c0, c1 are integrity clips, c2, c3 temporal):
    # integrity c0 [1,1,1], c1 [0,1]: P̄ = (1 + 0)/2; 4 of 5 votes are 1, Pₑ = 0.8² + 0.2² = 0.68
    assert report["tasks"]["integrity"]["fleiss_kappa"] == pytest.approx((0.5 - 0.68) / (1 - 0.68))
    # temporal c2 [1,0] (c3 has one vote left): P̄ = 0, Pₑ = 0.5 → κ = −1
    assert report["tasks"]["temporal"]["fleiss_kappa"] == pytest.approx(-1.0)
    # alice against the others' majority: c0 (bob + BATON 1: agrees); c1, c2 (bob alone: disagrees) → 1/3
    assert report["annotators"]["alice"]["agreement_with_others"] == pytest.approx(1 / 3)
    assert report["sources"][baton] == {"clips": 2, "votes": 2, "fleiss_kappa": None}
    text = (out / "merge.md").read_text()
    assert "| integrity | 2 | 5 | -0.563 |" in text and "Conflicts" in text


def test_two_instances_back_up_to_one_dataset_and_a_restart_resumes(tmp_path, loopback_hub):
    from datasets import load_from_disk

    load_from_disk(str(_clips(tmp_path / "clips"))).push_to_hub("baton/clips")  # a backup names Hub clips
    clips = ClipSet.load("baton/clips")
    ids = clips.clip_ids
    stores = []
    for name in ("alice", "bob"):
        backup = HubLabelBackup(
            "baton/labels",
            tmp_path / f"{name}.backup",
            every_minutes=10,
            clips={"dataset": "baton/clips"},
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_space(tmp_path: Path, clips: Path, store: str, port: int) -> subprocess.Popen:
    """The Space template as a Space runs it (``python app.py``), signed-in visitors mocked by Gradio
    with the app's token user (the loopback Hub says ``hf_alice_token`` is alice)."""
    env = {
        **os.environ,
        "HF_TOKEN": "hf_alice_token",
        "BATON_CLIPS": str(clips),
        "BATON_LABELS_REPO": "baton/space-labels",
        "BATON_BACKUP_MINUTES": "10",
        "BATON_STORE": str(tmp_path / store),
        "BATON_HOST": "127.0.0.1",
        "PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, str(REPO / "spaces" / "annotate" / "app.py")],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    import urllib.request

    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, process.stderr.read()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as response:
                config = response.read().decode()
            break
        except OSError:
            assert time.monotonic() < deadline, "the Space did not start"
            time.sleep(0.3)
    assert "hub-login" in config  # the Sign in with Hugging Face button
    return process


@pytest.mark.browser
def test_the_space_template_signs_in_labels_backs_up_at_shutdown_and_resumes(tmp_path, loopback_hub):
    sync_api = pytest.importorskip("playwright.sync_api")
    from test_annotate_app import CHROMIUM, CHROMIUM_ARGS, _value, _wait_progress

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    clips = _clips(tmp_path / "clips")

    def sign_in_and(port: int, action) -> None:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.click("#hub-login")  # Gradio's mocked OAuth: back on the page, signed in as alice
            page.wait_for_function(
                "() => { const box = document.querySelector('#status textarea, #status input');"
                " return box && box.value.includes('(your login)'); }",
                timeout=30000,
            )
            assert _value(page, "status") == "Labelling as alice (your login)."
            page.wait_for_function(  # the name box shows the signed-in user
                "() => document.querySelector('#annotator textarea, #annotator input').value === 'alice'",
                timeout=10000,
            )
            action(page)
            browser.close()

    port = _free_port()
    space = _start_space(tmp_path, clips, "first.sqlite", port)
    try:

        def label_one(page) -> None:
            _wait_progress(page, 0)
            page.click("#btn-aligned")
            _wait_progress(page, 1)

        sign_in_and(port, label_one)
    finally:
        space.send_signal(signal.SIGTERM)  # a Space stopping: the backup's last commit runs at exit
        space.wait(timeout=60)
    files = HfApi().list_repo_files("baton/space-labels", repo_type="dataset")
    assert "clips.json" in files and any(f.startswith("labels/") for f in files)
    restarted_port = _free_port()
    restarted = _start_space(tmp_path, clips, "second.sqlite", restarted_port)  # a new, empty disk
    try:
        sign_in_and(restarted_port, lambda page: _wait_progress(page, 1))  # alice's label came back
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)


@pytest.mark.slow
def test_the_readme_hub_labelling_commands_run_against_the_loopback_hub(tmp_path, loopback_hub, monkeypatch):
    """docs/preference-data.md's "Label together on the Hub" block, as written; two simulated contributors label
    through the app's own backed-up store in place of the browser (the ``annotate`` line's flags)."""
    from baton_tta.cli import main
    from baton_tta.scripts.annotate import ServeArguments
    from baton_tta.scripts.utils import parse
    from test_readme_sequence import readme_sequence

    commands = readme_sequence("<!-- hub-labelling -->", REPO / "docs" / "preference-data.md")
    assert [c[0] for c in commands] == ["push-dataset", "annotate", "merge-labels", "train-reward-model"]
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")
    monkeypatch.chdir(tmp_path)
    _clips(Path("outputs/clips/dataset"), prompts=3)
    carol = LabelStore("outputs/carol.sqlite", "test")  # a local export, the merge's second source
    local = ClipSet.load("outputs/clips/dataset")
    for index, clip_id in enumerate(sorted(local.clip_ids)):
        carol.add(clip_id, "carol", index % 2)
    assert (
        main(
            [
                "export-labels",
                "--dataset",
                "outputs/clips/dataset",
                "--store",
                "outputs/carol.sqlite",
                "--output_dir",
                "outputs/labels",
            ]
        )
        == 0
    )
    for argv in commands:
        if argv[0] != "annotate":
            assert main(argv) == 0, argv
            continue
        for person in ("alice", "bob"):  # what the app does for each contributor's clicks
            (args,) = parse((ServeArguments,), argv[1:])
            args.store = args.store.replace("alice", person)
            clips, store = args.open_backed_up()
            for index, clip_id in enumerate(sorted(clips.clip_ids)[:4]):
                store.add(clip_id, person, index % 2 if person == "alice" else 1)
            store.backup.close()
    merged = load_preference_dataset("outputs/merged-labels")
    assert len(merged) == 6 and {v for voters in merged["voters"] for v in voters} == {
        "alice",
        "bob",
        "carol",
    }
    # sorted clip 0: alice 0, bob 1, carol 0 → 0; clip 1: alice 1, bob 1, carol 1 → 1; clips 4, 5: carol only
    labels = dict(zip(merged["clip_key"], merged["label"], strict=True))
    assert sorted(merged["sources"], key=len)[-1] == ["outputs/labels", "you/baton-labels"]
    assert len(labels) == 6 and set(merged["label"]) <= {0, 1, -1}
    assert len(loopback_hub.state.repos[("dataset", "you/baton-preferences")].commits) == 2
    assert Path("outputs/reward-model-merged/model.safetensors").is_file()


def test_the_space_template_needs_its_settings_and_starts_with_the_sign_in_button(tmp_path, loopback_hub):
    sys.path.insert(0, str(REPO / "spaces" / "annotate"))
    try:
        from app import space_arguments
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit, match="BATON_CLIPS, BATON_LABELS_REPO"):
        space_arguments({})
    with pytest.raises(
        SystemExit, match=r"set the Space variable BATON_CLIPS_REVISION to a commit of you/clips"
    ):
        space_arguments(
            {"BATON_CLIPS": "you/clips", "BATON_LABELS_REPO": "you/l"}
        )  # found by the third trust pass
    flags = space_arguments(
        {"BATON_CLIPS": "you/clips", "BATON_CLIPS_REVISION": "abc123", "BATON_LABELS_REPO": "you/l"}
    )
    assert flags[flags.index("--revision") + 1] == "abc123" and "--oauth" in flags
    space = _start_space(
        tmp_path, _clips(tmp_path / "clips"), "labels.sqlite", _free_port()
    )  # asserts the button
    space.send_signal(signal.SIGTERM)
    assert space.wait(timeout=60) == 0  # SIGTERM is a clean exit: the backup's last commit runs


def test_a_pinned_revision_labels_the_clips_of_that_commit(tmp_path, loopback_hub):
    from baton_tta.hub.datasets import push_preference_dataset

    first = load_preference_dataset(str(_clips(tmp_path / "v1", prompts=2)))
    push_preference_dataset(first, "you/clips")
    pinned = HfApi().dataset_info("you/clips").sha  # the commit the first push made
    push_preference_dataset(load_preference_dataset(str(_clips(tmp_path / "v2", prompts=3))), "you/clips")
    assert len(ClipSet.load("you/clips")) == 6
    assert ClipSet.load("you/clips", revision=pinned).clip_ids == ClipSet(first).clip_ids


def test_a_backup_line_may_change_only_its_own_instances_labels(tmp_path, caplog):
    """Found by the third trust pass: any instance file could undo another's label by uid, override a
    person's vote with a future timestamp, carry ``label: 7`` into the merged votes (0 conflicts
    reported), or stop the app's start with one line missing a key (``KeyError: 'clip_id'``)."""
    from datetime import UTC, datetime, timedelta

    from baton_tta.annotate.backup import UntrustedEvent, read_events, standing_votes
    from baton_tta.annotate.store import LabelStore

    now = datetime.now(UTC)

    def at(minutes):
        return (now + timedelta(minutes=minutes)).isoformat(timespec="microseconds")

    def label(uid, clip, who, value, when):
        return {"event": "label", "uid": uid, "clip_id": clip, "annotator": who, "label": value,
                "created_at": when, "app_version": "test"}  # fmt: skip

    started = (now - timedelta(hours=1)).strftime("%Y%m%dT%H%M%S")
    a2 = f"{started}-aaaa-{'2' * 32}"  # an id as the app writes it: its instance's name first
    honest = [label("a1", "c0", "alice", 1, at(-30)), label(a2, "c1", "ｃａｒｏｌ", 0, at(-20))]
    hostile = [
        {"event": "undo", "uid": "a1", "undone_at": at(-1)},  # another instance's label
        label("b1", "c0", "alice", 0, at(60 * 24)),  # a "later" vote from the future
        label("b2", "c2", "bob", 7, at(-5)),  # no such label
        {**label("b3", "c2", "bob", 1, at(-5)), "weight": 5},  # an unknown key
        {k: v for k, v in label("b4", "c3", "bob", 1, at(-5)).items() if k != "clip_id"},
        label(a2, "c1", "carol", 1, at(-4)),  # reuses alice's instance's label id
        label("b5", "c0", "dave", 1, (now - timedelta(days=2)).isoformat()),  # before the instance began
        label("b6", "c3", "bob", 1, at(-3)),  # the one honest line of this file
    ]
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / f"{started}-aaaa.jsonl").write_text("".join(json.dumps(e) + "\n" for e in honest))
    hostile_file = labels / f"{started}-bbbb.jsonl"
    hostile_file.write_text("".join(json.dumps(e) + "\n" for e in hostile))

    with caplog.at_level("WARNING"):
        events = read_events(tmp_path)
    assert [e["uid"] for e in events] == ["a1", a2, "b6"]
    assert sorted(standing_votes(events)) == [("c0", "alice", 1), ("c1", "carol", 0), ("c3", "bob", 1)]
    for number, reason in [
        (1, "undoes label a1, which this instance did not write"),
        (2, "lies in the future"),
        (3, "label 7 is not one of (1, 0, -1)"),
        (4, "unknown keys ['weight']"),
        (5, "missing keys ['clip_id']"),
        (6, f"label id {a2} belongs to another instance, not {started}-bbbb.jsonl"),
        (7, "is before this instance started"),
    ]:
        assert re.search(
            rf"{re.escape(str(hostile_file))} line {number}: [^\n]*{re.escape(reason)}", caplog.text
        )
    assert "7 backup line(s) skipped" in caplog.text

    store = LabelStore(tmp_path / "store.sqlite", app_version="test")
    assert store.replay(events) == 3  # the app starts, with the trustworthy labels
    with pytest.raises(UntrustedEvent, match=rf"{re.escape(str(hostile_file))} line 1: undoes label a1"):
        read_events(tmp_path, strict=True)  # merge-labels refuses the backup


def _label_line(uid, clip="c0", who="alice", value=1, when=None):
    from datetime import UTC, datetime

    when = when or datetime.now(UTC).isoformat(timespec="microseconds")
    return {"event": "label", "uid": uid, "clip_id": clip, "annotator": who, "label": value,
            "created_at": when, "app_version": "test"}  # fmt: skip


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(
    lines=st.lists(
        st.one_of(
            st.binary(max_size=64),  # anything at all, invalid UTF-8 included
            JSON_VALUES.map(lambda v: json.dumps(v).encode()),  # any JSON
            # an event with any one value replaced by any JSON value
            st.tuples(
                st.sampled_from(sorted({"event", "uid", "clip_id", "annotator", "label", "created_at"})),
                JSON_VALUES,
            ).map(lambda kv: json.dumps({**_label_line("x1"), kv[0]: kv[1]}).encode()),
            st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),  # nesting
        ),
        max_size=6,
    )
)
@settings(max_examples=150)
def test_no_backup_file_can_crash_the_reader(lines, tmp_path_factory):
    """Found by the fourth trust pass: ``"event": ["label"]`` or a dict gave ``TypeError: unhashable``
    in the app's restore and in merge-labels, a deeply nested line a RecursionError, invalid UTF-8 a
    UnicodeDecodeError, and ``annotator: null`` was read as "none". Whatever bytes a file holds, the
    reader skips what it cannot trust (or, strict, refuses it as :class:`UntrustedEvent`), and every
    event it returns has the app's keys and types."""
    from baton_tta.annotate.backup import EVENT_KEYS, UntrustedEvent, read_events

    folder = tmp_path_factory.mktemp("backup")
    (folder / "labels").mkdir()
    (folder / "labels" / "20260101T000000-abcdef12.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    for event in read_events(folder):
        assert set(event) == EVENT_KEYS[event["event"]]
        assert all(isinstance(event[k], str) for k in event if k != "label")
        assert event.get("label", 1) in (1, 0, -1) and not isinstance(event.get("label"), bool)
    with contextlib.suppress(UntrustedEvent):  # strict: refused as untrusted, never anything else
        read_events(folder, strict=True)


def test_a_forged_file_cannot_take_a_real_label_id_and_a_shared_old_id_is_trusted_in_neither(
    tmp_path, caplog
):
    """Found by the fourth trust pass: an earlier-sorting forged file reusing a real uid with label 0
    replaced the real label, and merge-labels blamed the real line. An app now names each label
    ``<instance>-<hex>``, so only its own file may hold it; an id of the older, unprefixed kind that two
    files hold cannot be attributed, so neither copy counts."""
    from baton_tta.annotate.backup import UntrustedEvent, read_events, standing_votes

    real_instance, forged_instance = (
        "20260101T000000-bbbb0000",
        "20260101T000000-aaaa0000",
    )  # forged sorts first
    real_uid = f"{real_instance}-{'f' * 32}"
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / f"{forged_instance}.jsonl").write_text(
        json.dumps(_label_line(real_uid, value=0))
        + "\n"
        + json.dumps(_label_line("old1", clip="c1", value=0))
        + "\n"
    )
    (tmp_path / "labels" / f"{real_instance}.jsonl").write_text(
        json.dumps(_label_line(real_uid, value=1))
        + "\n"
        + json.dumps(_label_line("old1", clip="c1", value=1))
        + "\n"
    )
    with caplog.at_level("WARNING"):
        events = read_events(tmp_path)
    assert standing_votes(events) == [("c0", "alice", 1)]  # the real label stands; old1 counts nowhere
    assert f"{forged_instance}.jsonl line 1: label id {real_uid} belongs to another instance" in caplog.text
    assert "old1 is in several files" in caplog.text
    with pytest.raises(
        UntrustedEvent, match=rf"{forged_instance}\.jsonl line 1"
    ):  # the forged line is blamed
        read_events(tmp_path, strict=True)


def test_a_backup_on_the_hub_naming_a_local_dataset_is_refused(tmp_path, loopback_hub):
    """Found by the fourth trust pass: ``merge-labels`` loaded whatever local dataset a Hub backup's
    ``clips.json`` named. A backup on the Hub is writable by whoever can push to it; it names its clips
    by Hub id, and a local path there is refused before anything is read."""
    from baton_tta.cli import main

    clips_dir = _clips(tmp_path / "clips")
    clip = ClipSet.load(str(clips_dir)).clip_ids[0]
    backup = _backup_folder(tmp_path / "backup", clips_dir, [(clip, "alice", 1)])
    HfApi().create_repo("baton/forged", repo_type="dataset")
    HfApi().upload_folder(folder_path=str(backup), repo_id="baton/forged", repo_type="dataset")
    with pytest.raises(
        SystemExit,
        match=r"clips\.json: 1 problem\(s\):\n  names the local dataset .*clips.: a backup on the Hub names its clips by Hub id",
    ):
        main(["merge-labels", "--sources", "baton/forged", "--output_dir", str(tmp_path / "merged")])
    assert not (tmp_path / "merged").exists()
