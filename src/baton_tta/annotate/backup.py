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
import re
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


#: a label id as an app writes it: its instance's name (the file it may appear in), then 32 hex digits
INSTANCE_UID = re.compile(r"^(\d{8}T\d{6}-[0-9a-z]+)-[0-9a-f]{32}$")
#: no event an app writes comes near this; a longer line is refused unread
MAX_LINE_BYTES = 4_096


def read_events(folder: str | os.PathLike, strict: bool = False) -> list[dict]:
    """Every trustworthy event of every instance file under ``folder/labels``, in file then line order.

    A backup repository is writable by whoever can push to it, so a line is trusted only if an app
    instance could have written it: UTF-8 text of a bounded length holding an object with exactly the
    keys of its kind, each of its type (strings, the label an integer), a label of 1, 0 or −1 by a
    valid annotator name (NFKC-normalised as the app does, so "ｃａｒｏｌ" is "carol"), a time between the
    instance's start (its file name) and now, a uid of that very instance (an app names its labels
    ``<instance>-<hex>``, so a file cannot claim another instance's label; a uid of the older, unprefixed
    kind that two files hold is trusted in neither), and an undo only of a label of the same file.
    Anything else is skipped with its file, line and reason in the log and a count (``strict``, as
    ``merge-labels`` reads: refused with the first one). A last line cut short (a kill during a write
    or a commit) is skipped in both modes. Nothing in a file can make this raise anything else."""
    read = [(path, number, parsed) for path in _instance_files(folder) for number, parsed in _lines(path)]
    files_of: dict[str, set[Path]] = {}
    for path, _, parsed in read:  # the files each label id may be claimed by (its own instance's only)
        if isinstance(parsed, dict) and parsed["event"] == "label" and _may_hold(path, parsed["uid"]):
            files_of.setdefault(parsed["uid"], set()).add(path)
    events: list[dict] = []
    owner: dict[str, Path] = {}  # label uid -> the instance file that wrote it
    skipped = 0
    now = datetime.now(UTC)
    for path, number, parsed in read:
        try:
            if isinstance(parsed, UntrustedEvent):
                raise parsed
            events.append(_trusted(parsed, path, owner, files_of, now))
        except UntrustedEvent as error:
            if strict:
                raise UntrustedEvent(f"{path} line {number}: {error}") from None
            logger.warning("%s line %d: %s; skipped", path, number, error)
            skipped += 1
    if skipped:
        logger.warning("%s: %d backup line(s) skipped (reasons above)", folder, skipped)
    return events


def _may_hold(path: Path, uid: str) -> bool:
    """Whether ``path`` may hold label ``uid``: an id the app writes names its instance's file."""
    bound = INSTANCE_UID.match(uid)
    return bound is None or bound.group(1) == path.stem


def _instance_files(folder: str | os.PathLike) -> list[Path]:
    return sorted((Path(folder) / LABELS_FOLDER).glob("*.jsonl"))


def _lines(path: Path) -> list[tuple[int, dict | UntrustedEvent]]:
    """(line number, its event's keys checked for kind and type, or why not) of each non-blank line;
    a last line cut short is left out, with a warning."""
    raw = path.read_bytes().split(b"\n")
    out: list[tuple[int, dict | UntrustedEvent]] = []
    for number, data in enumerate(raw, start=1):
        if not data.strip():
            continue
        try:
            out.append((number, _shaped(data)))
        except _CutShort as error:
            if number == len(raw):  # no newline after it: the write was cut
                logger.warning("%s line %d: cut short (%s); skipped", path, number, error)
                continue
            out.append((number, UntrustedEvent(f"not a label event ({error})")))
        except UntrustedEvent as error:
            out.append((number, error))
    return out


class _CutShort(Exception):
    """A line that is not JSON (the last line of a file may be cut mid-write)."""


#: each key of an event and the type an app writes it with
KEY_TYPES: dict[str, type] = {
    "event": str,
    "uid": str,
    "clip_id": str,
    "annotator": str,
    "label": int,
    "created_at": str,
    "app_version": str,
    "undone_at": str,
}


def _shaped(data: bytes) -> dict:
    """One line's event with its keys and their types checked (not yet its meaning)."""
    if len(data) > MAX_LINE_BYTES:
        raise UntrustedEvent(f"{len(data):,} bytes, longer than any event ({MAX_LINE_BYTES:,} at most)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UntrustedEvent(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        event = json.loads(text)
    except json.JSONDecodeError as error:
        raise _CutShort(error.msg) from None
    except RecursionError:
        raise UntrustedEvent("nested too deeply to be an event") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("event"), str)
        or event["event"] not in EVENT_KEYS
    ):
        raise UntrustedEvent("not a label or undo event")
    expected = EVENT_KEYS[event["event"]]
    if set(event) != expected:
        missing, unknown = sorted(expected - set(event)), sorted(map(str, set(event) - expected))
        raise UntrustedEvent(f"{event['event']} event with missing keys {missing} / unknown keys {unknown}")
    for key in expected:
        value = event[key]
        if not isinstance(value, KEY_TYPES[key]) or isinstance(value, bool):
            raise UntrustedEvent(f"{key} {value!r:.80} is not a {KEY_TYPES[key].__name__}")
    return event


def _instance_start(path: Path) -> datetime | None:
    """When the instance that writes ``path`` started: its name begins with that time (UTC)."""
    try:
        return datetime.strptime(path.stem.split("-", 1)[0], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _trusted(
    event: dict, path: Path, owner: dict[str, Path], files_of: dict[str, set[Path]], now: datetime
) -> dict:
    """A shaped event's meaning checked and normalised, or :class:`UntrustedEvent` saying why not."""
    started = _instance_start(path)
    uid = event["uid"]
    if not uid:
        raise UntrustedEvent("an empty label id")
    if event["event"] == "undo":
        if owner.get(uid) != path:
            raise UntrustedEvent(f"undoes label {uid}, which this instance did not write")
        _time(event["undone_at"], "undone_at", started, now)
        return event
    label = event["label"]
    if label not in LABEL_VALUES:
        raise UntrustedEvent(f"label {label!r} is not one of {LABEL_VALUES}")
    if not _may_hold(path, uid):
        raise UntrustedEvent(f"label id {uid} belongs to another instance, not {path.name}")
    if len(files_of.get(uid, ())) > 1:
        others = ", ".join(sorted(p.name for p in files_of[uid]))
        raise UntrustedEvent(f"label id {uid} is in several files ({others}): trusted in none")
    if uid in owner:
        raise UntrustedEvent(f"label id {uid} was already used in {owner[uid].name}")
    try:
        annotator = normalise_annotator(event["annotator"])
    except ValueError as error:
        raise UntrustedEvent(f"annotator {event['annotator']!r}: {error}") from None
    if not event["clip_id"]:
        raise UntrustedEvent("an empty clip_id")
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
        # the instance's name starts the uid: a backup file may hold only its own instance's labels
        label_id = super().add(clip_id, annotator, label, uid or f"{self.backup.instance}-{uuid.uuid4().hex}")
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
