"""A dataset's content fingerprint: what a resumed run checks its data against.

A path names where data lives, not what it is: rewriting a file in place (labels flipped, captions
changed) kept the path, and ``--resume_from_checkpoint last`` continued on other data. The
fingerprint hashes every row's values and every clip's audio content (encoded bytes, or the file
they point to), in order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from datasets import Dataset


def _audio_bytes(value: dict) -> bytes:
    if value.get("bytes"):
        return value["bytes"]
    if value.get("path") and Path(value["path"]).is_file():
        return Path(value["path"]).read_bytes()
    return json.dumps(value, sort_keys=True, default=str).encode()


def content_fingerprint(dataset: Dataset) -> str:
    """16 hex digits of SHA-256 over the rows, in order (audio by content)."""
    digest = hashlib.sha256()
    for row in dataset.with_format(None):
        for name in sorted(row):
            value: Any = row[name]
            digest.update(name.encode() + b"=")
            if isinstance(value, dict) and ("bytes" in value or "path" in value):
                digest.update(hashlib.sha256(_audio_bytes(value)).digest())
            else:
                digest.update(json.dumps(value, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]
