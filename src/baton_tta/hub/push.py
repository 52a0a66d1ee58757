"""Every upload baton-tta makes goes through here, as one commit: pipelines, reward models, datasets,
cards and online rounds alike.

A commit is a set of files (``path in repo → local file``); :func:`push_files` creates the repository
(and the branch) when needed, checks the repository id with ``huggingface_hub``'s own validator first
(a bad id fails before any work is uploaded), and commits them all at once, so a repository never
holds half an artifact. :func:`push_folder` is a folder's files filtered by patterns,
:func:`push_card` one card; :func:`scheduled_commits` commits a growing folder at intervals (the
annotation app's label backups). Inside :func:`dry_run_pushes` (``--dry_run`` on any command) a
commit is shown — repository, files, sizes, the rendered card — and nothing is uploaded.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitScheduler, HfApi, RepoCard, constants
from huggingface_hub.utils import filter_repo_objects, validate_repo_id

logger = logging.getLogger(__name__)
#: Never uploaded from a folder: git and cache internals (as ``upload_folder``), a run's lock file and
#: files still being written.
NEVER_PUSHED = (".git/*", ".cache/huggingface/*", ".baton-run.lock", "*.tmp")
_DRY_RUN: ContextVar[bool] = ContextVar("baton_tta_dry_run_pushes", default=False)


@contextmanager
def dry_run_pushes() -> Iterator[None]:
    """Inside the block every push shows what it would upload and uploads nothing."""
    token = _DRY_RUN.set(True)
    try:
        yield
    finally:
        _DRY_RUN.reset(token)


def is_dry_run() -> bool:
    """Whether pushes are only shown (:func:`dry_run_pushes`): a command's own "pushed" line says so."""
    return _DRY_RUN.get()


def _show_commit(
    repo_id: str, files: Mapping[str, str | os.PathLike], repo_type: str, revision: str | None
) -> str:
    """Print the commit a push would make (every file with its size, then the card) and return the
    commit URL it would have, so callers read the repository from it as from a real one."""
    sizes = {path: Path(local).stat().st_size for path, local in sorted(files.items())}
    where = f"{repo_type} {repo_id}" + (f" (branch {revision})" if revision else "")
    lines = [f"dry run: nothing uploaded; the commit would add {len(sizes)} file(s), "
             f"{sum(sizes.values()) / 1e6:.2f} MB, to {where}:"]  # fmt: skip
    lines += [f"  {path}  {size:,} bytes" for path, size in sizes.items()]
    if "README.md" in files:
        lines += [
            "--- README.md as it would be pushed ---",
            Path(files["README.md"]).read_text(encoding="utf-8"),
        ]
    print("\n".join(lines))
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return f"{constants.ENDPOINT}/{prefix}{repo_id}/commit/dry-run"


def push_files(
    repo_id: str,
    files: Mapping[str, str | os.PathLike],
    *,
    repo_type: str = "model",
    commit_message: str = "Upload with baton-tta",
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
) -> str:
    """Create ``repo_id`` (and branch ``revision``) if needed and commit ``files`` at once; returns
    the commit URL."""
    validate_repo_id(repo_id)
    if not files:
        raise ValueError(f"nothing to push to {repo_id}")
    if is_dry_run():
        return _show_commit(repo_id, files, repo_type, revision)
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, repo_type=repo_type, exist_ok=True, private=private).repo_id
    if revision and not create_pr:
        api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=os.fspath(local))
        for path, local in sorted(files.items())
    ]
    info = api.create_commit(
        repo_id,
        operations,
        repo_type=repo_type,
        commit_message=commit_message,
        revision=revision,
        create_pr=create_pr,
    )
    logger.info("pushed %d file(s) to %s (%s)", len(operations), repo_id, info.commit_url)
    return info.commit_url


def folder_files(
    folder: str | os.PathLike,
    prefix: str = "",
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
) -> dict[str, Path]:
    """``folder``'s files as ``{prefix + relative path: file}``, filtered as ``upload_folder`` filters."""
    folder = Path(folder)
    paths = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
    kept = filter_repo_objects(
        paths,
        allow_patterns=list(allow_patterns) if allow_patterns else None,
        ignore_patterns=[*NEVER_PUSHED, *(ignore_patterns or ())],
    )
    return {prefix + name: paths[name] for name in kept}


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] | None = None,
    **commit: object,
) -> str:
    """``folder`` as one commit (``commit``: :func:`push_files`' keywords). ``allow_patterns`` /
    ``ignore_patterns`` select what goes up (checkpoints and pickles stay home)."""
    files = folder_files(folder, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns)
    return push_files(repo_id, files, **commit)  # type: ignore[arg-type]


def push_card(card: RepoCard, repo_id: str, **commit: object) -> str:
    """``card`` as the repository's README.md, one commit (``commit``: :func:`push_files`' keywords)."""
    with tempfile.TemporaryDirectory() as staging:
        path = Path(staging) / "README.md"
        card.save(path)
        return push_files(repo_id, {"README.md": path}, **commit)  # type: ignore[arg-type]


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


def scheduled_commits(
    repo_id: str,
    folder: str | os.PathLike,
    every_minutes: float,
    allow_patterns: Sequence[str],
    token: str | None = None,
    private: bool = False,
) -> CommitScheduler:
    """``huggingface_hub``'s ``CommitScheduler``: ``folder``'s files matching ``allow_patterns``
    committed to the dataset ``repo_id`` every ``every_minutes`` and once more at interpreter exit
    (each commit holds only what changed). The repository is created if missing."""
    validate_repo_id(repo_id)
    return CommitScheduler(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=folder,
        every=every_minutes,
        allow_patterns=list(allow_patterns),
        private=private,
        token=token,
    )
