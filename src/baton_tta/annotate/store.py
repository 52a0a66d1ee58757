"""The label store: an append-only SQLite log in WAL mode, so an acknowledged label is never lost.

Every click is one committed transaction (``synchronous=FULL``) before the app shows the next clip,
so killing the app, closing the tab or pulling the plug loses at most the click being made. Rows are
never updated in place except to mark a label undone; the log keeps who said what and when, which
the export's raw votes and any later audit read back. WAL lets several annotators and browser tabs
write at once (writers queue on SQLite's lock for up to ``timeout`` seconds; readers never wait).
"""

from __future__ import annotations

import os
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LABELS = {"aligned": 1, "not_aligned": 0, "skip": -1}
LABEL_NAMES = {value: name for name, value in LABELS.items()}

SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clip_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    label INTEGER NOT NULL CHECK (label IN (1, 0, -1)),
    created_at TEXT NOT NULL,
    app_version TEXT NOT NULL,
    undone_at TEXT
);
CREATE INDEX IF NOT EXISTS labels_by_annotator ON labels (annotator, undone_at, id);
CREATE INDEX IF NOT EXISTS labels_by_clip ON labels (clip_id);
"""


@dataclass(frozen=True)
class Vote:
    """One effective label: the annotator's latest, not undone, label of a clip. ``uid`` names the
    label across stores (a Hub backup's events refer to it); labels written before backups had none."""

    id: int
    clip_id: str
    annotator: str
    label: int
    created_at: str
    app_version: str
    uid: str | None = None


VOTE_COLUMNS = "id, clip_id, annotator, label, created_at, app_version, uid"


class LabelStoreError(ValueError):
    """The label store's file cannot be read or written; the message names it."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _script(char: str) -> str:
    """The writing system of a letter ("LATIN", "CYRILLIC", "GREEK", …), from its Unicode name."""
    return unicodedata.name(char, "UNKNOWN").split(" ")[0]


def normalise_annotator(name: str) -> str:
    """One person, one name: Unicode NFKC, case-folded, printable characters only, inner whitespace
    collapsed ("Alice", "ALICE " and "ａｌｉｃｅ" are all "alice"). A name that mixes writing systems
    ("аlice" with a Cyrillic а) is refused: it would pass for someone else. Empty or over-long names
    are refused too."""
    name = unicodedata.normalize("NFKC", str(name)).casefold()
    name = " ".join("".join(ch for ch in name if ch.isprintable()).split())
    if not name:
        raise ValueError("enter your annotator name first")
    if len(name) > 64:
        raise ValueError(f"annotator name is {len(name)} characters long; 64 at most")
    scripts = {_script(ch) for ch in name if ch.isalpha()}
    if len(scripts) > 1:
        raise ValueError(
            f"annotator name {name!r} mixes writing systems ({', '.join(sorted(scripts))}); use one"
        )
    return name


class LabelStore:
    """Durable labels of many annotators. Safe to share between threads and processes: each call
    opens its own short-lived connection."""

    def __init__(self, path: str | os.PathLike, app_version: str, timeout: float = 30.0):
        self.path = Path(path)
        self.app_version = app_version
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(SCHEMA)
                columns = {row[1] for row in connection.execute("PRAGMA table_info(labels)")}
                if "uid" not in columns:  # stores from before Hub backups: add the column, keep every row
                    connection.execute("ALTER TABLE labels ADD COLUMN uid TEXT")
                connection.execute("CREATE UNIQUE INDEX IF NOT EXISTS labels_by_uid ON labels (uid)")
        except (sqlite3.DatabaseError, LabelStoreError) as error:
            raise LabelStoreError(
                f"{self.path}: not a readable label store ({error.__cause__ or error}); give another --store "
                "path, or restore this one from a backup"
            ) from error

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose database errors name this store's file (a corrupt page deep in the
        file surfaces only when a query reaches it, as a bare ``DatabaseError``)."""
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            yield connection
        except sqlite3.DatabaseError as error:
            raise LabelStoreError(
                f"{self.path}: the label store failed ({type(error).__name__}: {error}); if the file is "
                "damaged, give another --store path, or restore this one from a backup"
            ) from error
        finally:
            connection.close()

    def add(self, clip_id: str, annotator: str, label: int, uid: str | None = None) -> int:
        """Record a label and return its row id once it is committed to disk."""
        if label not in LABEL_NAMES:
            raise ValueError(f"label must be one of {sorted(LABEL_NAMES)}, got {label!r}")
        annotator = normalise_annotator(annotator)
        with self._connect() as connection:
            cursor = connection.execute(
                "INSERT INTO labels (clip_id, annotator, label, created_at, app_version, uid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (str(clip_id), annotator, int(label), _now(), self.app_version, uid),
            )
            assert cursor.lastrowid is not None  # an INSERT always sets it
            return cursor.lastrowid

    def vote(self, label_id: int) -> Vote | None:
        """The label written as row ``label_id`` (standing or undone), or None."""
        with self._connect() as connection:
            row = connection.execute(
                f"SELECT {VOTE_COLUMNS} FROM labels WHERE id = ?", (int(label_id),)
            ).fetchone()
        return Vote(*row) if row is not None else None

    def replay(self, events: list[dict]) -> int:
        """Apply backup events in one transaction — ``label`` events (their uid, annotator, label, time
        and app version kept) unless the store has that uid already, then ``undo`` events by uid — and
        return how many labels were new. Replaying the same events twice changes nothing."""
        added = 0
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            for event in events:
                if event["event"] == "label":
                    cursor = connection.execute(
                        "INSERT OR IGNORE INTO labels (clip_id, annotator, label, created_at, app_version, uid) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            str(event["clip_id"]),
                            normalise_annotator(event["annotator"]),
                            int(event["label"]),
                            str(event["created_at"]),
                            str(event["app_version"]),
                            str(event["uid"]),
                        ),
                    )
                    added += cursor.rowcount
            for event in events:
                if event["event"] == "undo":
                    connection.execute(
                        "UPDATE labels SET undone_at = ? WHERE uid = ? AND undone_at IS NULL",
                        (str(event["undone_at"]), str(event["uid"])),
                    )
            connection.execute("COMMIT")
        return added

    def undo_last(self, annotator: str) -> Vote | None:
        """Mark the annotator's most recent label undone (kept in the log) and return it; None if
        there is nothing to undo."""
        return self._withdraw(
            "annotator = ? AND undone_at IS NULL ORDER BY id DESC LIMIT 1", (normalise_annotator(annotator),)
        )

    def undo(self, label_id: int, annotator: str) -> Vote | None:
        """Mark one label undone — only if ``annotator`` wrote it and it stands; return it, or None.
        The app undoes only the labels its own session added, never another person's."""
        return self._withdraw(
            "id = ? AND annotator = ? AND undone_at IS NULL", (int(label_id), normalise_annotator(annotator))
        )

    def _withdraw(self, condition: str, params: tuple) -> Vote | None:
        """In one transaction: find the standing label matching ``condition`` and mark it undone."""
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute(
                f"SELECT {VOTE_COLUMNS} FROM labels WHERE " + condition, params
            ).fetchone()
            if row is not None:
                connection.execute("UPDATE labels SET undone_at = ? WHERE id = ?", (_now(), row[0]))
            connection.execute("COMMIT")
        return Vote(*row) if row is not None else None

    def votes(self) -> list[Vote]:
        """Effective votes, one per (clip, annotator): the latest label not undone."""
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {VOTE_COLUMNS} FROM labels WHERE id IN ("
                " SELECT MAX(id) FROM labels WHERE undone_at IS NULL GROUP BY clip_id, annotator"
                ") ORDER BY id"
            ).fetchall()
        return [Vote(*row) for row in rows]

    def labelled_by(self, annotator: str) -> set[str]:
        """Clip ids this annotator has a standing label for."""
        annotator = normalise_annotator(annotator)
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT DISTINCT clip_id FROM labels WHERE annotator = ? AND undone_at IS NULL", (annotator,)
            ).fetchall()
        return {row[0] for row in rows}

    def log(self) -> list[tuple]:
        """Every row ever written, undone ones included: (id, clip_id, annotator, label, created_at,
        app_version, undone_at)."""
        with self._connect() as connection:
            return connection.execute("SELECT * FROM labels ORDER BY id").fetchall()
