"""``baton-tta annotate``: serve the labelling app (aligned / not aligned / skip) on a clip dataset.

    baton-tta annotate --dataset outputs/clips/dataset --store outputs/labels.sqlite

Binds 127.0.0.1 unless told otherwise; ``--share`` and ``--host 0.0.0.0`` only when you ask. Needs
the ``[annotate]`` extra (Gradio). Labels are exported with ``baton-tta export-labels``; with
``--labels_repo`` they are also backed up to a Hub dataset as people work (the Space template in
``spaces/annotate`` runs this with ``--oauth``), and ``baton-tta merge-labels`` combines backups.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta import __version__
from baton_tta.annotate import ClipSet, LabelStore
from baton_tta.annotate.store import normalise_annotator
from baton_tta.scripts.builtin import named_scorer
from baton_tta.scripts.utils import command, parse

logger = logging.getLogger(__name__)
AUTH_ENV = "BATON_ANNOTATE_AUTH"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class ClipStoreArguments:
    dataset: str = field(metadata={"help": "Clip dataset: folder, files or Hub id."})
    store: str = field(metadata={"help": "SQLite label store (created if missing)."})
    split: str = field(default="train", metadata={"help": "Split of the clip dataset."})
    revision: str | None = field(
        default=None, metadata={"help": "Commit, branch or tag of a Hub clip dataset (pin it for a team)."}
    )
    seed: int = field(default=0, metadata={"help": "Seeds each annotator's clip order."})

    def clips(self) -> ClipSet:
        return ClipSet.load(self.dataset, split=self.split, seed=self.seed, revision=self.revision)

    def open(self) -> tuple[ClipSet, LabelStore]:
        return self.clips(), LabelStore(self.store, app_version=__version__)


@dataclass
class ServeArguments(ClipStoreArguments):
    host: str = field(default="127.0.0.1", metadata={"help": "Address to bind; 0.0.0.0 exposes the app."})
    port: int | None = field(default=None, metadata={"help": "Port (Gradio picks one from 7860 if unset)."})
    share: bool = field(default=False, metadata={"help": "Also open a public gradio.live link."})
    auth: list[str] = field(
        default_factory=list,
        metadata={
            "help": f"user:password logins (repeatable; or set {AUTH_ENV}); the login is the annotator name."
        },
    )
    auth_file: str | None = field(
        default=None,
        metadata={"help": "File of user:password lines (# comments allowed), one login per annotator."},
    )
    title: str = field(default="BATON annotation", metadata={"help": "Page title."})
    integrity_instructions: str | None = field(
        default=None, metadata={"help": "Instructions shown for integrity clips."}
    )
    temporal_instructions: str | None = field(
        default=None, metadata={"help": "Instructions shown for temporal clips."}
    )
    labels_repo: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset the labels are backed up to as people work (restored from it on start)."
        },
    )
    backup_every_minutes: float = field(
        default=5.0, metadata={"help": "Minutes between backup commits (and one at shutdown)."}
    )
    oauth: bool = field(
        default=False,
        metadata={"help": "Sign in with Hugging Face (a Space's OAuth): the Hub username is the annotator."},
    )

    prerank_with: str | None = field(
        default=None,
        metadata={
            "help": "A scorer by kind:source (judge:MODEL, reward-model:PATH, …) that orders the queue: the "
            "clips it is least sure of first. Its scores are never labels."
        },
    )

    def open_backed_up(self) -> tuple[ClipSet, LabelStore]:
        """The clips and the store; with ``labels_repo`` the store is first restored from the Hub
        backup and then backs every label up to it."""
        clips = self.clips()
        if not self.labels_repo:
            return clips, LabelStore(self.store, app_version=__version__)
        from baton_tta.annotate.backup import BackedUpStore, HubLabelBackup, restore_store

        store_path = Path(self.store)
        restored = restore_store(
            LabelStore(store_path, app_version=__version__),
            self.labels_repo,
            store_path.with_name(store_path.name + ".restored"),
        )
        print(f"{restored} label(s) restored from {self.labels_repo}")
        backup = HubLabelBackup(
            self.labels_repo,
            store_path.with_name(store_path.name + ".backup"),
            self.backup_every_minutes,
            clips={"dataset": self.dataset, "revision": self.revision, "split": self.split},
        )
        return clips, BackedUpStore(store_path, __version__, backup)


def parse_auth(values: Sequence[str] = (), auth_file: str | None = None) -> list[tuple[str, str]]:
    """Logins from ``--auth`` values, an ``--auth_file`` and the BATON_ANNOTATE_AUTH variable (keeps
    passwords out of shell history; several logins separated by whitespace). User names are
    normalised as annotator names are, so a login *is* an annotator; duplicates are refused."""
    entries = list(values) + os.environ.get(AUTH_ENV, "").split()
    if auth_file:
        lines = Path(auth_file).read_text(encoding="utf-8").splitlines()
        entries += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    logins: dict[str, str] = {}
    for entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise SystemExit(
                f"--auth / --auth_file / {AUTH_ENV}: {entry.split(':')[0]!r}… must look like user:password"
            )
        name = normalise_annotator(user)
        if name in logins:
            raise SystemExit(f"login {name!r} is given twice")
        logins[name] = password
    return list(logins.items())


def exposure_warning(
    host: str, share: bool, logins: list[tuple[str, str]], oauth: bool = False
) -> str | None:
    """A warning when the app is reachable beyond this machine with no login (``--auth`` logins or
    the Hugging Face sign-in)."""
    if logins or oauth or (host in LOOPBACK_HOSTS and not share):
        return None
    where = "a public gradio.live link" if share else f"{host}"
    return (
        f"WARNING: the annotation app is reachable on {where} without --auth: anyone can label under any name"
    )


@command
def main(argv: Sequence[str] | None = None) -> None:
    from baton_tta.annotate.app import Annotator, build_app, launch_app  # the optional Gradio extra

    (args,) = parse((ServeArguments,), argv, repeatable=["--auth"])
    logins = parse_auth(args.auth, args.auth_file)
    clips, store = args.open_backed_up()
    if args.prerank_with:
        scores = clips.prerank(named_scorer(args.prerank_with))
        print(
            f"{len(scores)} clips pre-ranked by {args.prerank_with} (least sure first; scores are not labels)"
        )
    instructions = {
        task: text
        for task, text in (
            ("integrity", args.integrity_instructions),
            ("temporal", args.temporal_instructions),
        )
        if text
    }
    if warning := exposure_warning(args.host, args.share, logins, args.oauth):
        logger.warning(warning)
        print(warning, file=sys.stderr)
    print(
        f"labels go to {store.path}" + (f"; {len(logins)} login(s), each labels as itself" if logins else "")
    )
    app = build_app(
        Annotator(clips, store, instructions), title=args.title, with_login=bool(logins), oauth=args.oauth
    )
    if args.labels_repo:  # a Space is stopped with SIGTERM: exit normally, so the backup's last commit runs
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    launch_app(app, host=args.host, port=args.port, share=args.share, auth=logins or None)


if __name__ == "__main__":
    main()
