"""Upload a finished folder to the Hub in one commit: the one push path of every model artifact."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

from huggingface_hub import create_repo, upload_folder

logger = logging.getLogger(__name__)


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    repo_type: str = "model",
    commit_message: str = "Upload with baton-tta",
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` as a single commit; returns the commit URL.

    ``allow_patterns`` / ``ignore_patterns`` select what goes up (checkpoints and pickles stay home)."""
    repo_id = create_repo(repo_id, repo_type=repo_type, exist_ok=True, private=private, token=token).repo_id
    info = upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type=repo_type,
        commit_message=commit_message,
        token=token,
        revision=revision,
        create_pr=create_pr,
        allow_patterns=list(allow_patterns) if allow_patterns else None,
        ignore_patterns=list(ignore_patterns) if ignore_patterns else None,
    )
    logger.info("pushed %s to %s (%s)", folder, repo_id, info.commit_url)
    return info.commit_url


def pipeline_files(folder: str | os.PathLike) -> list[str]:
    """Upload patterns of a saved pipeline, read from its ``model_index.json``: the index, the
    pipeline's own code files (custom pipelines such as TANGO's) and one folder per component it
    names, so any family's layout goes up whole and nothing else does."""
    folder = os.fspath(folder)
    with open(os.path.join(folder, "model_index.json"), encoding="utf-8") as handle:
        index = json.load(handle)
    components = [
        name for name, value in index.items() if not name.startswith("_") and isinstance(value, list)
    ]
    code = sorted(name for name in os.listdir(folder) if name.endswith(".py"))
    return ["model_index.json", *code, *(f"{name}/*" for name in components)]
