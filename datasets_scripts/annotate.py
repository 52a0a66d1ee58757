"""Stage 1: label clips in the browser, then export the labels.

    python datasets_scripts/annotate.py serve --dataset outputs/clips/dataset --store outputs/labels.sqlite
    python datasets_scripts/annotate.py export --dataset outputs/clips/dataset --store outputs/labels.sqlite \
        --output_dir outputs/labels [--push_to_hub --hub_dataset_id you/baton-labels]

Thin wrapper: ``serve`` is ``baton-tta annotate`` (``baton_tta.scripts.annotate``) and ``export`` is
``baton-tta export-labels`` (``baton_tta.scripts.export_labels``).
"""

import sys

from baton_tta.scripts import annotate, export_labels

ACTIONS = {"serve": annotate.main, "export": export_labels.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ACTIONS:
        sys.exit(f"usage: {sys.argv[0]} serve|export --dataset ... --store ... [flags]")
    ACTIONS[sys.argv[1]](sys.argv[2:])
