"""Command-line entry points, importable (as ``trl.scripts``): ``baton-tta <command>`` runs them, and
so do the thin files in the repository's ``trainers/`` and ``datasets_scripts/``.

Every command parses dataclasses with ``TrlParser``: each field is a ``--flag`` and a key of the YAML
file given with ``--config``; flags win. Commands that publish take ``--push_to_hub`` (a boolean)
with ``--hub_model_id`` or ``--hub_dataset_id``, and every command prints where it wrote (under
``accelerate launch``, the main process does; see :mod:`baton_tta.data.distributed`).
"""
