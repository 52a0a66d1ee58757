"""``baton-tta export-labels``: the annotation store → a labelled binary dataset (majority of the
non-skip votes; ties and skip-only clips get -1) plus an agreement report.

    baton-tta export-labels --dataset outputs/clips/dataset --store outputs/labels.sqlite --output_dir outputs/labels
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton_tta.annotate import export_annotations, write_export
from baton_tta.hub.datasets import push_preference_dataset
from baton_tta.scripts.annotate import ClipStoreArguments
from baton_tta.scripts.utils import command, default_repo_id, parse


@dataclass
class ExportArguments(ClipStoreArguments):
    output_dir: str = field(
        default="outputs/labels", metadata={"help": "Folder for the dataset and agreement report."}
    )
    push_to_hub: bool = field(default=False, metadata={"help": "Push the labelled dataset with a card."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Dataset repo id for --push_to_hub."})
    private: bool = field(default=False, metadata={"help": "Create the Hub repo private."})


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((ExportArguments,), argv)
    if not Path(args.store).is_file():  # opening would create an empty store and export nothing
        raise SystemExit(
            f"no label store at {args.store}: check --store, or label the clips first "
            f"(baton-tta annotate --dataset {args.dataset} --store {args.store})"
        )
    clips, store = args.open()
    dataset, report = export_annotations(clips, store)
    if "human" not in dataset["source"]:
        raise SystemExit(
            f"none of the {len(dataset)} clips of {args.dataset} has a label in {args.store} (nor carries "
            f"one): nothing was written. Label them first (baton-tta annotate --dataset {args.dataset} "
            f"--store {args.store}), or check that --store is the store they were labelled in"
        )
    folder = write_export(dataset, report, args.output_dir)
    print(report.markdown())
    print(f"labelled dataset and agreement report written to {Path(folder).resolve()}")
    if args.push_to_hub:
        push_preference_dataset(
            dataset, default_repo_id(args.hub_dataset_id, args.output_dir), private=args.private
        )


if __name__ == "__main__":
    main()
