"""``baton-tta annotate``: serve the labelling app (aligned / not aligned / skip) on a clip dataset.

    baton-tta annotate --dataset outputs/clips/dataset --store outputs/labels.sqlite

Binds 127.0.0.1 unless told otherwise; ``--share`` and ``--host 0.0.0.0`` only when you ask. Needs
the ``[annotate]`` extra (Gradio). Labels are exported with ``baton-tta export-labels``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from baton_tta import __version__
from baton_tta.annotate import ClipSet, LabelStore
from baton_tta.scripts.utils import parse

AUTH_ENV = "BATON_ANNOTATE_AUTH"


@dataclass
class ClipStoreArguments:
    dataset: str = field(metadata={"help": "Clip dataset: folder, files or Hub id."})
    store: str = field(metadata={"help": "SQLite label store (created if missing)."})
    split: str = field(default="train", metadata={"help": "Split of the clip dataset."})
    seed: int = field(default=0, metadata={"help": "Seeds each annotator's clip order."})

    def open(self) -> tuple[ClipSet, LabelStore]:
        return ClipSet.load(self.dataset, split=self.split, seed=self.seed), LabelStore(
            self.store, app_version=__version__
        )


@dataclass
class ServeArguments(ClipStoreArguments):
    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind; 0.0.0.0 exposes the app."})
    port: int | None = field(default=None, metadata={"help": "Port (Gradio picks one from 7860 if unset)."})
    share: bool = field(default=False, metadata={"help": "Also open a public gradio.live link."})
    auth: str | None = field(default=None, metadata={"help": f"user:password (or set {AUTH_ENV})."})
    title: str = field(default="BATON annotation", metadata={"help": "Page title."})
    integrity_instructions: str | None = field(
        default=None, metadata={"help": "Instructions shown for integrity clips."}
    )
    temporal_instructions: str | None = field(
        default=None, metadata={"help": "Instructions shown for temporal clips."}
    )


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` from --auth or the BATON_ANNOTATE_AUTH variable (keeps it out of shell history)."""
    value = value or os.environ.get(AUTH_ENV)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SystemExit(f"--auth / {AUTH_ENV} must look like user:password")
    return user, password


def main(argv: Sequence[str] | None = None) -> None:
    from baton_tta.annotate.app import Annotator, build_app, launch_app  # the optional Gradio extra

    (args,) = parse((ServeArguments,), argv)
    clips, store = args.open()
    instructions = {
        task: text
        for task, text in (
            ("integrity", args.integrity_instructions),
            ("temporal", args.temporal_instructions),
        )
        if text
    }
    print(f"labels go to {store.path}")
    app = build_app(Annotator(clips, store, instructions), title=args.title)
    launch_app(app, host=args.host, port=args.port, share=args.share, auth=parse_auth(args.auth))


if __name__ == "__main__":
    main()
