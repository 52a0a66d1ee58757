"""What made an output: a resumable command's defining record, written when it starts and compared
when it runs again in the same folder, before any work.

Resuming picks up whatever shards a folder holds. Without a record, ``label-with-reward-model`` rerun
on another dataset with the same row count gave B's rows A's scores, and a killed run rerun with
another scorer mixed both scorers' scores while ``scorers.json`` named one (fourth trust pass). The
record is every parsed setting — so a new flag is defining by default — less a short named list of
settings that may change on resume (how work is batched, where it is pushed), plus facts the settings
do not hold: the data's content fingerprint, each scorer's ``describe()``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from baton_tta.data.settings import SettingsError

RECORD_FILE = "defining_record.json"


def defining_record(settings: Any, may_change: Iterable[str], **facts: Any) -> dict[str, Any]:
    """``settings``' every field (a dataclass) but ``may_change``, and ``facts``, as JSON values."""
    skipped = set(may_change)
    unknown = skipped - {f.name for f in dataclasses.fields(settings)}
    if unknown:
        raise ValueError(f"may_change names no setting of {type(settings).__name__}: {sorted(unknown)}")
    record = {
        f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in skipped
    }
    return json.loads(json.dumps({"settings": record, **facts}, sort_keys=True, default=str))


def keep_one_definition(
    folder: str | os.PathLike, record: dict[str, Any], what: str, write: bool = True
) -> None:
    """The first run in ``folder`` writes its record (when ``write``: the main process); a later one
    must match it exactly, or it is refused naming each difference (old → new) before any work — on
    every process alike, since each reads the same file."""
    path = Path(folder) / RECORD_FILE
    if not path.is_file():
        if not write:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    previous = json.loads(path.read_text(encoding="utf-8"))
    changed = _differences(previous, record)
    if changed:
        details = "; ".join(f"{key}: {old!r} → {new!r}" for key, old, new in changed[:8])
        raise SettingsError(
            f"{folder} holds {what} made otherwise ({details}){' …' if len(changed) > 8 else ''}: continue "
            "with the same settings, or use a new --output_dir"
        )


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, old, new) of every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [(prefix.rstrip("."), old, new)]
