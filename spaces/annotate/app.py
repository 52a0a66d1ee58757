"""A Hugging Face Space that serves baton-tta's annotation app: contributors sign in with their Hub
account, label clips of a Hub dataset (a pinned revision), and their labels are committed to a Hub
dataset as they work, so a restarted Space resumes with every label (restored on start).

Set in the Space's settings: variables ``BATON_CLIPS`` (the clip dataset), ``BATON_CLIPS_REVISION``
(a commit, so every contributor labels the same clips; required for a Hub dataset), ``BATON_LABELS_REPO`` (the dataset the labels
go to), optionally ``BATON_BACKUP_MINUTES`` (5); a secret ``HF_TOKEN`` that may write to
``BATON_LABELS_REPO``. Locally, ``python app.py`` runs the same app with Gradio's mocked sign-in (your
own token's user). Combine the labels with ``baton-tta merge-labels --sources <BATON_LABELS_REPO>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from baton_tta.scripts.annotate import main

REQUIRED = ("BATON_CLIPS", "BATON_LABELS_REPO")


def space_arguments(env: Mapping[str, str] = os.environ) -> list[str]:
    """``baton-tta annotate`` flags from the Space's variables."""
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise SystemExit(f"set the Space variables {', '.join(missing)} (see this file's docstring)")
    if not env.get("BATON_CLIPS_REVISION") and not Path(env["BATON_CLIPS"]).exists():
        raise SystemExit(
            f"set the Space variable BATON_CLIPS_REVISION to a commit of {env['BATON_CLIPS']}: unpinned, a "
            "push to that dataset while people label would give them other clips than their labels "
            f"name (the newest commit: HfApi().dataset_info({env['BATON_CLIPS']!r}).sha)"
        )
    arguments = [
        "--dataset",
        env["BATON_CLIPS"],
        "--store",
        env.get("BATON_STORE", "labels.sqlite"),
        "--labels_repo",
        env["BATON_LABELS_REPO"],
        "--backup_every_minutes",
        env.get("BATON_BACKUP_MINUTES", "5"),
        "--host",
        env.get("BATON_HOST", "0.0.0.0"),
        "--port",
        env.get("PORT", "7860"),
        "--oauth",
        "--title",
        env.get("BATON_TITLE", "BATON annotation"),
    ]
    if env.get("BATON_CLIPS_REVISION"):
        arguments += ["--revision", env["BATON_CLIPS_REVISION"]]
    return arguments


if __name__ == "__main__":
    main(space_arguments())
