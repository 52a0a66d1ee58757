"""The label store mirrored to a Hub dataset while people work, and restored from it on start.

A Space's disk is wiped when it restarts, and a SQLite file on it would go with every label. So each
label and each undo is also appended, as one JSON line, to this app instance's own file
``labels/<instance>.jsonl`` in a local folder that ``huggingface_hub``'s ``CommitScheduler`` commits
to a dataset repository every few minutes and once more at shutdown (:func:`~baton_tta.hub.push.
scheduled_commits`). Each instance writes only its own file and files only grow, so no commit
overwrites another instance's or person's labels, and a commit made while a line is being written
holds every line before it (a cut last line is skipped when read, and complete in the next commit).
On start, an app replays every instance's events into its store (by label uid: idempotent), so a
restarted Space resumes with everything the Hub holds. ``clips.json`` records the clip dataset and
revision the labels belong to, so ``merge-labels`` can find the audio.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download

from baton_tta.annotate.store import LabelStore, Vote, normalise_annotator
from baton_tta.hub.push import scheduled_commits

logger = logging.getLogger(__name__)

LABELS_FOLDER = "labels"
CLIPS_FILE = "clips.json"


#: the keys each kind of event has, exactly (an app writes these and nothing else)
EVENT_KEYS = {
    "label": {"event", "uid", "clip_id", "annotator", "label", "created_at", "app_version"},
    "undo": {"event", "uid", "undone_at"},
}
LABEL_VALUES = (1, 0, -1)
#: clocks of app instances and of the reader may disagree by this much
CLOCK_SKEW = timedelta(minutes=10)


class UntrustedEvent(ValueError):
    """A backup line that no app instance would write, or that changes another instance's labels."""


def read_events(folder: str | os.PathLike, strict: bool = False) -> list[dict]:
    """Every trustworthy event of every instance file under ``folder/labels``, in file then line order.

    A backup repository is writable by whoever can push to it, so a line is trusted only if an app
    instance could have written it: an object with exactly the keys of its kind, a label of 1, 0 or
    −1 by a valid annotator name (NFKC-normalised as the app does, so "ｃａｒｏｌ" is "carol"), a
    time between the instance's start (its file name) and now, a uid no other instance used, and an
    undo only of a label of the same instance file: an instance may change only its own labels.
    Anything else is skipped with its file, line and reason in the log and a count (``strict``, as
    ``merge-labels`` reads: refused with the first one). A last line cut short (a kill during a write
    or a commit) is skipped in both modes."""
    events: list[dict] = []
    owner: dict[str, Path] = {}  # label uid -> the instance file that wrote it
    skipped = 0
    now = datetime.now(UTC)
    for path in sorted((Path(folder) / LABELS_FOLDER).glob("*.jsonl")):
        started = _instance_start(path)
        lines = path.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = _trusted(line, path, owner, started, now)
            except json.JSONDecodeError as error:
                if number == len(lines):  # no newline after it: the write was cut
                    logger.warning("%s line %d: cut short (%s); skipped", path, number, error.msg)
                    continue
                problem = f"not a label event ({error.msg})"
            except UntrustedEvent as error:
                problem = str(error)
            else:
                events.append(event)
                continue
            if strict:
                raise UntrustedEvent(f"{path} line {number}: {problem}")
            logger.warning("%s line %d: %s; skipped", path, number, problem)
            skipped += 1
    if skipped:
        logger.warning("%s: %d backup line(s) skipped (reasons above)", folder, skipped)
    return events


def _instance_start(path: Path) -> datetime | None:
    """When the instance that writes ``path`` started: its name begins with that time (UTC)."""
    try:
        return datetime.strptime(path.stem.split("-", 1)[0], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _trusted(line: str, path: Path, owner: dict[str, Path], started: datetime | None, now: datetime) -> dict:
    """One line as an event, normalised, or :class:`UntrustedEvent` saying why not."""
    event = json.loads(line)
    if not isinstance(event, dict) or event.get("event") not in EVENT_KEYS:
        raise UntrustedEvent("not a label or undo event")
    expected = EVENT_KEYS[event["event"]]
    if set(event) != expected:
        missing, unknown = sorted(expected - set(event)), sorted(set(event) - expected)
        raise UntrustedEvent(f"{event['event']} event with missing keys {missing} / unknown keys {unknown}")
    uid = event["uid"]
    if not isinstance(uid, str) or not uid:
        raise UntrustedEvent(f"uid {uid!r} is not a label id")
    if event["event"] == "undo":
        if owner.get(uid) != path:
            raise UntrustedEvent(f"undoes label {uid}, which this instance did not write")
        _time(event["undone_at"], "undone_at", started, now)
        return event
    label = event["label"]
    if isinstance(label, bool) or label not in LABEL_VALUES:
        raise UntrustedEvent(f"label {label!r} is not one of {LABEL_VALUES}")
    if uid in owner:
        raise UntrustedEvent(f"label id {uid} was already used by {owner[uid].name}")
    try:
        annotator = normalise_annotator(event["annotator"])
    except ValueError as error:
        raise UntrustedEvent(f"annotator {event['annotator']!r}: {error}") from None
    if not isinstance(event["clip_id"], str) or not event["clip_id"]:
        raise UntrustedEvent(f"clip_id {event['clip_id']!r} is not a clip id")
    _time(event["created_at"], "created_at", started, now)
    owner[uid] = path
    return {**event, "annotator": annotator}


def _time(value: object, key: str, started: datetime | None, now: datetime) -> None:
    """A time an instance could have written: ISO 8601 with a zone, after it started, not after now."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise UntrustedEvent(f"{key} {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise UntrustedEvent(f"{key} {value!r} has no time zone")
    if moment > now + CLOCK_SKEW:
        raise UntrustedEvent(f"{key} {value} lies in the future")
    if started is not None and moment < started - CLOCK_SKEW:
        raise UntrustedEvent(f"{key} {value} is before this instance started ({started.isoformat()})")


def standing_votes(events: list[dict]) -> list[tuple[str, str, int]]:
    """(clip_id, annotator, label) of each annotator's latest label of a clip that was not undone."""
    undone = {event["uid"] for event in events if event["event"] == "undo"}
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    for event in events:
        if event["event"] != "label" or event["uid"] in undone:
            continue
        key = (event["clip_id"], event["annotator"])
        if key not in latest or event["created_at"] >= latest[key][0]:
            latest[key] = (event["created_at"], int(event["label"]))
    return [(clip, annotator, label) for (clip, annotator), (_, label) in latest.items()]


def clips_of(folder: str | os.PathLike) -> dict:
    """The clip dataset a backup's labels belong to (``clips.json``: dataset, revision, split)."""
    path = Path(folder) / CLIPS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; this backup does not say which clips it labels")
    return json.loads(path.read_text(encoding="utf-8"))


def download_backup(repo_id: str, local_dir: str | os.PathLike, token: str | None = None) -> Path | None:
    """The backup repository's events and clip manifest in ``local_dir``; None if it does not exist yet."""
    api = HfApi(token=token)
    if not api.repo_exists(repo_id, repo_type="dataset"):
        return None
    return Path(
        snapshot_download(
            repo_id,
            repo_type="dataset",
            allow_patterns=[f"{LABELS_FOLDER}/*.jsonl", CLIPS_FILE],
            local_dir=str(local_dir),
            token=token,
        )
    )


class HubLabelBackup:
    """This instance's append-only event file, committed to ``repo_id`` by a scheduler.

    Args:
        repo_id: the dataset repository holding every instance's events.
        folder: the local folder the scheduler watches (this instance's file goes in ``labels/``).
        every_minutes: how often changes are committed (and once at shutdown).
        clips: the clip dataset's id, revision and split, written to ``clips.json``.
    """

    def __init__(
        self,
        repo_id: str,
        folder: str | os.PathLike,
        every_minutes: float = 5.0,
        clips: dict | None = None,
        token: str | None = None,
        private: bool = False,
    ):
        self.folder = Path(folder)
        (self.folder / LABELS_FOLDER).mkdir(parents=True, exist_ok=True)
        self.instance = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        self.path = self.folder / LABELS_FOLDER / f"{self.instance}.jsonl"
        if clips is not None:
            (self.folder / CLIPS_FILE).write_text(json.dumps(clips, indent=2) + "\n", encoding="utf-8")
        self.scheduler = scheduled_commits(
            repo_id, self.folder, every_minutes, [f"{LABELS_FOLDER}/*.jsonl", CLIPS_FILE], token, private
        )

    def record(self, event: dict) -> None:
        """Append one event, flushed to disk before returning, under the scheduler's lock (no commit
        reads the file mid-line)."""
        line = json.dumps(event, ensure_ascii=False) + "\n"
        with self.scheduler.lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def close(self) -> None:
        """Commit what is left, waiting for it, then stop the schedule (the scheduler's own order:
        a stopped scheduler ignores triggers)."""
        self.scheduler.trigger().result()
        self.scheduler.stop()


class BackedUpStore(LabelStore):
    """A :class:`LabelStore` whose every label and undo also goes to a :class:`HubLabelBackup`."""

    def __init__(
        self, path: str | os.PathLike, app_version: str, backup: HubLabelBackup, timeout: float = 30.0
    ):
        super().__init__(path, app_version, timeout)
        self.backup = backup

    def add(self, clip_id: str, annotator: str, label: int, uid: str | None = None) -> int:
        label_id = super().add(clip_id, annotator, label, uid or uuid.uuid4().hex)
        vote = self.vote(label_id)
        assert vote is not None  # just written
        self.backup.record(
            {
                "event": "label",
                "uid": vote.uid,
                "clip_id": vote.clip_id,
                "annotator": vote.annotator,
                "label": vote.label,
                "created_at": vote.created_at,
                "app_version": vote.app_version,
            }
        )
        return label_id

    def _withdraw(self, condition: str, params: tuple) -> Vote | None:
        vote = super()._withdraw(condition, params)
        if vote is not None:
            if vote.uid is None:
                logger.warning(
                    "undid label %d, written before this store had a backup: not in the backup", vote.id
                )
            else:
                undone = datetime.now(UTC).isoformat(timespec="microseconds")
                self.backup.record({"event": "undo", "uid": vote.uid, "undone_at": undone})
        return vote


def restore_store(
    store: LabelStore, repo_id: str, local_dir: str | os.PathLike, token: str | None = None
) -> int:
    """Replay the backup repository's events into ``store``; returns how many labels were new."""
    folder = download_backup(repo_id, local_dir, token)
    if folder is None:
        logger.info("%s: no backup yet; starting empty", repo_id)
        return 0
    events = read_events(folder)
    added = store.replay(events)
    logger.info("%s: %d event(s) read, %d label(s) restored into %s", repo_id, len(events), added, store.path)
    return added
