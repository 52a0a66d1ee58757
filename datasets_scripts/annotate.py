"""Label clips in the browser (aligned / not aligned / skip), then export the labelled dataset.

Serve (binds 127.0.0.1 unless told otherwise; --share and --host 0.0.0.0 only when you ask):
    python datasets_scripts/annotate.py serve --dataset data/clips/dataset --store labels.sqlite
Export (majority labels, raw votes, agreement report; optionally push with a dataset card):
    python datasets_scripts/annotate.py export --dataset data/clips/dataset --store labels.sqlite \
        --output data/labelled [--push_to_hub you/baton-labels]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from baton_tta import __version__
from baton_tta.annotate import ClipSet, LabelStore, export_annotations, write_export

AUTH_ENV = "BATON_ANNOTATE_AUTH"


def _auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` from --auth or the BATON_ANNOTATE_AUTH variable (keeps it out of shell history)."""
    value = value or os.environ.get(AUTH_ENV)
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise SystemExit(f"--auth / {AUTH_ENV} must look like user:password")
    return user, password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "export"):
        command = commands.add_parser(name)
        command.add_argument("--dataset", required=True, help="Clip dataset: folder, files or Hub id.")
        command.add_argument("--split", default="train", help="Split of the clip dataset.")
        command.add_argument("--store", required=True, help="SQLite label store (created if missing).")
        command.add_argument("--seed", type=int, default=0, help="Seeds each annotator's clip order.")
    serve = commands.choices["serve"]
    serve.add_argument("--host", default="127.0.0.1", help="Address to bind; 0.0.0.0 exposes the app.")
    serve.add_argument("--port", type=int, default=None, help="Port (Gradio picks one from 7860 if unset).")
    serve.add_argument("--share", action="store_true", help="Also open a public gradio.live link.")
    serve.add_argument("--auth", default=None, help=f"user:password (or set {AUTH_ENV}).")
    serve.add_argument("--title", default="BATON annotation", help="Page title.")
    serve.add_argument(
        "--integrity_instructions", default=None, help="Instructions shown for integrity clips."
    )
    serve.add_argument("--temporal_instructions", default=None, help="Instructions shown for temporal clips.")
    export = commands.choices["export"]
    export.add_argument("--output", required=True, help="Folder for the dataset and agreement report.")
    export.add_argument(
        "--push_to_hub", "--push-to-hub", default=None, help="Dataset repo id to push, with a card."
    )
    export.add_argument("--private", action="store_true", help="Create the Hub repo private.")
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    clips = ClipSet.load(args.dataset, split=args.split, seed=args.seed)
    store = LabelStore(args.store, app_version=__version__)
    if args.command == "serve":
        from baton_tta.annotate.app import Annotator, build_app, launch_app

        instructions = {
            task: text
            for task, text in (
                ("integrity", args.integrity_instructions),
                ("temporal", args.temporal_instructions),
            )
            if text
        }
        app = build_app(Annotator(clips, store, instructions), title=args.title)
        launch_app(app, host=args.host, port=args.port, share=args.share, auth=_auth(args.auth))
        return
    dataset, report = export_annotations(clips, store)
    write_export(dataset, report, args.output)
    print(report.markdown())
    if args.push_to_hub:
        from baton_tta.hub.datasets import push_preference_dataset

        push_preference_dataset(dataset, args.push_to_hub, private=args.private)
        print(f"pushed to {args.push_to_hub}", file=sys.stderr)


if __name__ == "__main__":
    main()
