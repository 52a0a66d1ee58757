"""Stage 1's people: the annotation app, its durable label store, agreement and export.

The store, agreement and export need only the core install; the app needs the ``[annotate]`` extra
(Gradio), so :mod:`baton_tta.annotate.app` is imported only where it is used.
"""

from baton_tta.annotate.agreement import (
    AgreementReport,
    agreement_report,
    cohen_kappa,
    fleiss_kappa,
    majority_label,
    percent_agreement,
)
from baton_tta.annotate.clips import ClipSet, clip_id_for
from baton_tta.annotate.export import export_annotations, write_export
from baton_tta.annotate.store import LABELS, LabelStore, Vote

__all__ = [
    "LABELS",
    "AgreementReport",
    "ClipSet",
    "LabelStore",
    "Vote",
    "agreement_report",
    "clip_id_for",
    "cohen_kappa",
    "export_annotations",
    "fleiss_kappa",
    "majority_label",
    "percent_agreement",
    "write_export",
]
