"""``baton-tta merge-labels``: several contributors' labels → one binary preference dataset.

    baton-tta merge-labels --sources outputs/labels-alice you/baton-labels-backup outputs/baton-official \\
        --output_dir outputs/merged-labels [--push_to_hub --hub_dataset_id you/baton-merged]

A source is a folder or a Hub dataset id: an ``export-labels`` output, a converted dataset
(``convert-baton-official``), or an annotation app's backup (``labels/*.jsonl`` and ``clips.json``,
the Space's ``--labels_repo``), whose clips are loaded from the dataset and revision it names.
Clips are matched by caption and decoded audio; votes are merged per annotator; the majority of the
non-skip votes is the label (ties -1). Writes the dataset (``save_to_disk``) with ``merge.json`` /
``merge.md`` (agreement per task, annotator and source; conflicts and duplicates listed); with
``--push_to_hub`` the rows and a card naming the contributors go up in one commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from huggingface_hub import HfApi

from baton_tta.annotate.backup import LABELS_FOLDER, clips_of, download_backup, read_events, standing_votes
from baton_tta.annotate.clips import clip_id_for
from baton_tta.annotate.merge import LabelSource, merge_sources
from baton_tta.data.loading import load_preference_dataset
from baton_tta.data.schema import PreferenceDataError
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.scripts.utils import command, default_repo_id, parse


@dataclass
class MergeArguments:
    sources: list[str] = field(
        metadata={
            "help": "Label sources: export folders, converted datasets, app backups (folders or Hub ids)."
        }
    )
    output_dir: str = field(
        default="outputs/merged-labels", metadata={"help": "Folder for the merged dataset and its report."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the merged dataset with its card."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Dataset repo id for --push_to_hub."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repo private."})


def is_backup(source: str) -> bool:
    """A folder with ``labels/*.jsonl``, or a Hub dataset holding such files."""
    path = Path(source)
    if path.is_dir():
        return (path / LABELS_FOLDER).is_dir()
    if path.exists():
        return False
    files = HfApi().list_repo_files(source, repo_type="dataset")
    return any(name.startswith(f"{LABELS_FOLDER}/") and name.endswith(".jsonl") for name in files)


def backup_source(source: str, staging: Path) -> LabelSource:
    """A backup's standing votes on the clips it names (votes for clips not there are an error)."""
    local = Path(source).is_dir()
    folder = Path(source) if local else download_backup(source, staging)
    assert folder is not None  # is_backup found it
    manifest = clips_of(folder)
    named = str(manifest.get("dataset", ""))
    if not local and (Path(named).expanduser().exists() or named.startswith((".", "/", "~"))):
        # a backup on the Hub is written by whoever can push to it: it must not open this machine's files
        raise PreferenceDataError(
            f"{source}/clips.json",
            [f"names the local dataset {named!r}: a backup on the Hub names its clips by Hub id"],
        )
    clips = load_preference_dataset(
        manifest["dataset"], split=manifest.get("split", "train"), revision=manifest.get("revision")
    )
    rows = {
        clip_id_for(p, a): i for i, (p, a) in enumerate(zip(clips["prompt"], clips["audio"], strict=True))
    }
    votes, unknown = [], []
    for clip_id, annotator, label in standing_votes(read_events(folder, strict=True)):
        if clip_id in rows:
            votes.append((rows[clip_id], annotator, label))
        else:
            unknown.append(clip_id)
    if unknown:
        raise ValueError(
            f"{source}: {len(unknown)} vote(s) for clips not in {manifest['dataset']}@{manifest.get('revision')} "
            f"(first: {unknown[:3]}); the backup belongs to other clips"
        )
    return LabelSource(source, clips, votes)


def load_source(source: str, staging: Path) -> LabelSource:
    if is_backup(source):
        return backup_source(source, staging / source.replace("/", "--"))
    return LabelSource.from_dataset(source, load_preference_dataset(source))


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((MergeArguments,), argv)
    output = Path(args.output_dir)
    sources = [load_source(source, output.with_name(output.name + ".sources")) for source in args.sources]
    dataset, report = merge_sources(sources)
    dataset.save_to_disk(str(output))
    (output / "merge.json").write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    (output / "merge.md").write_text(report.markdown() + "\n", encoding="utf-8")
    print(report.markdown())
    print(f"merged dataset and report written to {output.resolve()}")
    if args.push_to_hub:
        push_preference_dataset(
            dataset,
            default_repo_id(args.hub_dataset_id, args.output_dir),
            private=args.private,
            provenance=report.markdown(),
            commit_message=f"Merge labels of {len(sources)} sources with baton-tta",
        )


if __name__ == "__main__":
    main()
