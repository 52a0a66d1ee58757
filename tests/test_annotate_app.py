"""The annotation app for real: a browser drives the page, and a SIGKILL hits the serving process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from baton_tta.annotate import ClipSet, LabelStore, export_annotations, write_export
from baton_tta.data import load_preference_dataset
from baton_tta.toy.datasets import toy_preference_dataset

pytest.importorskip("gradio")
REPO = Path(__file__).parents[1]
ARTIFACTS = Path(os.environ.get("BATON_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
HOSTILE_CAPTION = '<img src=x onerror="window.pwned=1"> a hum <b>and</b> a bell'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _clips(tmp_path: Path, num_prompts: int, hostile: bool = False) -> Path:
    dataset = toy_preference_dataset(num_prompts=num_prompts, clips_per_prompt=2, seed=11)
    # as generate-audio writes them: nobody has labelled them yet (export keeps labels a dataset has)
    dataset = dataset.map(lambda row: {"label": -1, "source": "unlabelled", "annotator": ""})
    if hostile:
        dataset = dataset.map(lambda row, i: {"prompt": HOSTILE_CAPTION} if i == 0 else {}, with_indices=True)
    dataset.save_to_disk(str(tmp_path / "clips"))
    return tmp_path / "clips"


@pytest.fixture
def gradio_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    return tmp_path


def _value(page, element_id: str) -> str:
    return page.locator(f"#{element_id} textarea, #{element_id} input").first.input_value()


def _wait_progress(page, done: int) -> None:
    page.wait_for_function(
        "done => { const box = document.querySelector('#progress textarea, #progress input');"
        " return box && box.value.startsWith(done + ' /'); }",
        arg=done,
        timeout=30000,
    )


@pytest.mark.browser
def test_browser_labels_with_clicks_and_keys_undoes_reloads_and_exports(gradio_tmp):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from baton_tta.annotate.app import Annotator, build_app, launch_app

    tmp_path = gradio_tmp
    clips = ClipSet.load(str(_clips(tmp_path, num_prompts=3, hostile=True)))
    store = LabelStore(tmp_path / "labels.sqlite", app_version="test")
    app = build_app(Annotator(clips, store))
    port = _free_port()
    launch_app(app, port=port, prevent_thread_lock=True)
    order = clips.order_for("alice")
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 950})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#annotator textarea, #annotator input").first.fill("alice")
            page.click("#start")
            _wait_progress(page, 0)
            assert _value(page, "prompt") == clips.clip(order[0]).prompt
            page.click("#btn-aligned")  # clip 0: aligned (click)
            _wait_progress(page, 1)
            page.locator("h2").first.click()  # focus off the text box, so keys are shortcuts
            page.keyboard.press("n")  # clip 1: not aligned (key)
            _wait_progress(page, 2)
            page.keyboard.press("s")  # clip 2: skip (key)
            _wait_progress(page, 3)
            page.click("#btn-undo")  # withdraw the skip: clip 2 is back on screen
            _wait_progress(page, 2)
            assert _value(page, "status").startswith("Undone")
            assert _value(page, "prompt") == clips.clip(order[2]).prompt
            page.keyboard.press("a")  # clip 2: aligned (key)
            _wait_progress(page, 3)
            page.reload()
            page.locator("#annotator textarea, #annotator input").first.fill("alice")
            page.keyboard.press("n")  # typing in the name box is not a shortcut
            assert _value(page, "annotator") == "alicen"
            page.locator("#annotator textarea, #annotator input").first.fill("alice")
            page.click("#start")
            _wait_progress(page, 3)  # resumed where alice left off
            assert _value(page, "prompt") == clips.clip(order[3]).prompt
            # a caption full of markup is shown as text and never runs
            hostile = next(i for i, c in enumerate(order) if clips.clip(c).prompt == HOSTILE_CAPTION)
            for done in range(3, hostile):
                page.click("#btn-skip")
                _wait_progress(page, done + 1)
            if hostile >= 3:
                assert _value(page, "prompt") == HOSTILE_CAPTION
            assert page.evaluate("() => window.pwned === undefined")
            assert page.locator("img[src='x']").count() == 0
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "annotate-app.png"), full_page=True)
            browser.close()
    finally:
        app.close()

    votes = {v.clip_id: v.label for v in store.votes() if v.annotator == "alice"}
    assert votes[order[0]] == 1 and votes[order[1]] == 0 and votes[order[2]] == 1
    assert [row[3] for row in store.log()[:4]] == [1, 0, -1, 1] and store.log()[2][6] is not None
    dataset, report = export_annotations(clips, store)
    loaded = load_preference_dataset(str(write_export(dataset, report, tmp_path / "export")))
    by_id = {row["clip_id"]: row for row in loaded}
    assert [by_id[c]["label"] for c in order[:3]] == [1, 0, 1]
    assert by_id[order[0]]["voters"] == ["alice"]
    assert (ARTIFACTS / "annotate-app.png").stat().st_size > 10_000


def _serve(clips: Path, store: Path, port: int, env: dict) -> subprocess.Popen:
    command = [sys.executable, str(REPO / "datasets_scripts" / "annotate.py"), "serve"]
    command += ["--dataset", str(clips), "--store", str(store), "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _client(port: int, process: subprocess.Popen, timeout: float = 120.0):
    from gradio_client import Client

    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "the app exited while starting"
        try:
            return Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_sigkill_mid_labelling_loses_nothing_acknowledged(gradio_tmp):
    tmp_path = gradio_tmp
    clips_dir = _clips(tmp_path, num_prompts=15)
    store_path = tmp_path / "labels.sqlite"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    port = _free_port()
    server = _serve(clips_dir, store_path, port, env)
    acknowledged: list[str] = []
    try:
        client = _client(port, server)
        assert client.predict("carol", api_name="/start")[0].startswith("0 /")

        def label_until_killed() -> None:
            try:
                while True:
                    progress = client.predict(api_name="/aligned")[0]
                    acknowledged.append(progress)
            except Exception:
                return

        worker = threading.Thread(target=label_until_killed)
        worker.start()
        while len(acknowledged) < 6:
            time.sleep(0.02)
            assert worker.is_alive()
        server.send_signal(signal.SIGKILL)  # mid-stream: a label request is almost surely in flight
        server.wait(timeout=30)
        worker.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    clips = ClipSet.load(str(clips_dir))
    order = clips.order_for("carol")
    store = LabelStore(store_path, app_version="check")
    with sqlite3.connect(store_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    saved = store.labelled_by("carol")
    count = len(acknowledged)
    assert set(order[:count]) <= saved  # every acknowledged label survived
    assert count <= len(saved) <= count + 1  # at most the one in flight also landed

    port = _free_port()
    restarted = _serve(clips_dir, store_path, port, env)
    try:
        client = _client(port, restarted)
        assert client.predict("carol", api_name="/start")[0].startswith(f"{len(saved)} /")
        assert client.predict(api_name="/not_aligned")[0].startswith(f"{len(saved) + 1} /")
    finally:
        restarted.kill()
        restarted.wait(timeout=30)
    assert store.labelled_by("carol") == set(order[: len(saved) + 1])


def test_login_is_the_annotator_and_undo_touches_only_own_labels(gradio_tmp):
    """With logins, a session labels as its login whatever name it types, and Undo withdraws only
    the labels that session added."""
    from gradio_client import Client

    from baton_tta.annotate.app import Annotator, build_app, launch_app

    clips_dir = _clips(gradio_tmp, num_prompts=3)
    store = LabelStore(gradio_tmp / "labels.sqlite", app_version="test")
    clips = ClipSet.load(str(clips_dir))
    store.add(clips.clip_ids[0], "bob", 1)  # bob's earlier label, from another session
    app = build_app(Annotator(clips, store), with_login=True)
    port = _free_port()
    launch_app(app, port=port, auth=[("alice", "pw-a"), ("bob", "pw-b")], prevent_thread_lock=True)
    try:
        alice = Client(f"http://127.0.0.1:{port}/", auth=("alice", "pw-a"), verbose=False)
        status = alice.predict("bob", api_name="/start")[-1]
        assert status == "Labelling as alice (your login)."
        alice.predict(api_name="/aligned")
        assert [(v.annotator, v.label) for v in store.votes()] == [("bob", 1), ("alice", 1)]
        assert alice.predict(api_name="/undo")[-1] == "Undone: label it again."
        assert alice.predict(api_name="/undo")[-1] == "Nothing to undo in this session."
        assert [(v.annotator, v.label) for v in store.votes()] == [("bob", 1)]  # bob's label stands
    finally:
        app.close()
