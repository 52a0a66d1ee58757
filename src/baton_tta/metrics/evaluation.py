"""Evaluate text-to-audio pipelines as the paper's Table 4: FD, FAD, IS, KL and CLAP score, with
Kernel Audio Distance beside them.

Clips are generated once per (pipeline, prompt, seed) and kept on disk, each clip is embedded once
per backbone, and every metric is computed from those arrays in one pass. FD, FAD, KAD and KL compare
with reference recordings of the same clip ids (AudioCaps); IS and CLAP score need only the generated
clips. :func:`protocol_record` writes down what the numbers were computed with, so two result files
are comparable or visibly not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from diffusers import DiffusionPipeline
from huggingface_hub import ModelCard

from baton_tta.clap import ClapEmbedder
from baton_tta.data.audio import SAMPLING_RATE, decode_audio, score_as_heard
from baton_tta.data.distributed import gather_in_order, my_batches, wait_for_everyone
from baton_tta.data.generation import render_clips
from baton_tta.families import family_of
from baton_tta.hub.cards import with_evaluation
from baton_tta.hub.figures import subplots
from baton_tta.hub.push import is_dry_run, push_card
from baton_tta.metrics.cnn14 import Cnn14, load_cnn14
from baton_tta.metrics.functions import (
    clap_score,
    frechet_distance,
    inception_score,
    kernel_audio_distance,
    kl_divergence,
)
from baton_tta.metrics.vggish import VGGish, load_vggish

logger = logging.getLogger(__name__)
METRICS = ("FD", "FAD", "KAD", "IS", "KL", "CLAP")
BETTER = {"FD": "↓", "FAD": "↓", "KAD": "↓", "IS": "↑", "KL": "↓", "CLAP": "↑"}
#: what each metric is computed on (the AudioLDM-style protocol BATON and TANGO report)
EMBEDDINGS = {
    "FD": "PANNs Cnn14 (16 kHz) 2048-d clip embeddings",
    "FAD": "VGGish (16 kHz) 128-d frame embeddings",
    "KAD": "PANNs Cnn14 (16 kHz) 2048-d clip embeddings; Gaussian kernel, median-distance bandwidth, × 100",
    "IS": "PANNs Cnn14 (16 kHz) 527-class logits",
    "KL": "PANNs Cnn14 (16 kHz) 527-class logits, paired by clip id",
    "CLAP": "CLAP text and audio embeddings (audio resampled to the CLAP extractor's rate)",
}


@dataclass
class Backbones:
    """What the metrics run on; any may be None, and the metrics that need it are then skipped."""

    cnn14: Cnn14 | None = None
    vggish: VGGish | None = None
    clap: ClapEmbedder | None = None


def load_backbones(
    cnn14_checkpoint: str | None = None, vggish_checkpoint: str | None = None, clap_model: str | None = None
) -> Backbones:
    """The public backbones from their files (Cnn14 and VGGish ``.pth``, a transformers CLAP id or
    folder); each one left out is None and the metrics that need it are skipped."""
    return Backbones(
        cnn14=load_cnn14(cnn14_checkpoint) if cnn14_checkpoint else None,
        vggish=load_vggish(vggish_checkpoint) if vggish_checkpoint else None,
        clap=ClapEmbedder.from_pretrained(clap_model) if clap_model else None,
    )


@dataclass
class ClipEmbeddings:
    """Every clip of a set embedded once per backbone."""

    ids: list[str]
    panns_embedding: np.ndarray | None = None
    panns_logits: np.ndarray | None = None
    vggish_frames: np.ndarray | None = None
    clap_audio: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)


def embed_clips(
    ids: Sequence[str], waves_16k: Sequence[np.ndarray], backbones: Backbones, batch_size: int = 8
) -> ClipEmbeddings:
    """Run each backbone over each clip exactly once (counts are recorded for the benchmark)."""
    out = ClipEmbeddings(ids=list(ids))
    if backbones.cnn14 is not None:
        embeddings, logits = [], []
        for start in range(0, len(waves_16k), batch_size):
            chunk = waves_16k[start : start + batch_size]
            length = max(len(w) for w in chunk)
            batch = torch.from_numpy(
                np.stack([np.pad(w, (0, length - len(w))) for w in chunk]).astype(np.float32)
            )
            embedding, logit = backbones.cnn14(batch)
            embeddings.append(embedding.numpy())
            logits.append(logit.numpy())
        out.panns_embedding, out.panns_logits = np.concatenate(embeddings), np.concatenate(logits)
        out.counts["cnn14"] = len(waves_16k)
    if backbones.vggish is not None:
        frames = [backbones.vggish.embed_waveform(w) for w in waves_16k]
        out.vggish_frames = np.concatenate(frames)
        out.counts["vggish"] = len(waves_16k)
    if backbones.clap is not None:
        out.clap_audio = backbones.clap.embed_audios(list(waves_16k), SAMPLING_RATE, batch_size=batch_size)
        out.counts["clap"] = len(waves_16k)
    return out


def embed_clips_shared(
    ids: Sequence[str], waves_16k: Sequence[np.ndarray], backbones: Backbones, batch_size: int = 8
) -> ClipEmbeddings:
    """:func:`embed_clips` with whole batches dealt to the processes and the embeddings gathered in
    clip order: the same numbers as one process, each clip embedded once."""
    mine = my_batches(list(range(len(ids))), batch_size, "clips to embed")
    local = [embed_clips([ids[i] for i in b], [waves_16k[i] for i in b], backbones, batch_size) for b in mine]
    return concatenate_embeddings(gather_in_order(local), list(ids))


def concatenate_embeddings(pieces: Sequence[ClipEmbeddings], ids: list[str]) -> ClipEmbeddings:
    """Embeddings of consecutive clip batches joined into those of the whole set."""
    out = ClipEmbeddings(ids=ids)
    for name in ("panns_embedding", "panns_logits", "vggish_frames", "clap_audio"):
        arrays = [getattr(p, name) for p in pieces if getattr(p, name) is not None]
        setattr(out, name, np.concatenate(arrays) if arrays else None)
    for piece in pieces:
        for backbone, count in piece.counts.items():
            out.counts[backbone] = out.counts.get(backbone, 0) + count
    return out


def compute_metrics(
    generated: ClipEmbeddings,
    prompts: Sequence[str],
    backbones: Backbones,
    reference: ClipEmbeddings | None = None,
    is_splits: int = 10,
) -> dict[str, float | None]:
    """All Table 4 metrics from embeddings; None where a backbone or the reference is missing."""
    result: dict[str, float | None] = dict.fromkeys(METRICS)
    if (
        reference is not None
        and generated.panns_embedding is not None
        and reference.panns_embedding is not None
        and generated.panns_logits is not None
        and reference.panns_logits is not None
    ):
        result["FD"] = frechet_distance(generated.panns_embedding, reference.panns_embedding)
        if len(generated.ids) > 1 and len(reference.ids) > 1:
            result["KAD"] = kernel_audio_distance(generated.panns_embedding, reference.panns_embedding)
        result["KL"] = kl_divergence(
            reference.panns_logits, generated.panns_logits, reference.ids, generated.ids
        )
    if reference is not None and generated.vggish_frames is not None and reference.vggish_frames is not None:
        result["FAD"] = frechet_distance(generated.vggish_frames, reference.vggish_frames)
    if generated.panns_logits is not None:
        splits = min(is_splits, len(generated.ids))
        result["IS"], result["IS_std"] = inception_score(generated.panns_logits, splits=splits)
    if generated.clap_audio is not None and backbones.clap is not None:
        result["CLAP"] = clap_score(backbones.clap.embed_texts(list(prompts)), generated.clap_audio)
    return result


def score_clips_shared(
    scorer: Any, prompts: Sequence[str], waves_16k: Sequence[np.ndarray], batch_size: int = 8
) -> float:
    """A scorer's mean over the clips, whole batches dealt to the processes and gathered in order."""
    mine = my_batches(list(range(len(waves_16k))), batch_size, "clips to score")
    local = [
        score_as_heard(scorer, [prompts[i] for i in batch], [waves_16k[i] for i in batch], SAMPLING_RATE)
        for batch in mine
    ]
    return float(np.mean([s for scores in gather_in_order(local) for s in scores]))


def protocol_record(
    backbones: Backbones,
    checkpoints: dict[str, str | None],
    prompts: Sequence[str],
    eval_set: str,
    scorers: list,
) -> dict[str, Any]:
    """What the numbers were computed with: each metric's embedding model and checkpoint, the sample
    rates, the caption set (its size and a hash of its captions in order) and the scorers."""
    present = {"cnn14": backbones.cnn14, "vggish": backbones.vggish, "clap": backbones.clap}
    used = {"FD": "cnn14", "KAD": "cnn14", "IS": "cnn14", "KL": "cnn14", "FAD": "vggish", "CLAP": "clap"}
    captions = hashlib.sha256("\n".join(prompts).encode()).hexdigest()
    clap_rate = getattr(getattr(backbones.clap, "feature_extractor", None), "sampling_rate", None)
    return {
        "protocol": "AudioLDM-style (BATON Table 4: audioldm_eval's FD, FAD, IS, KL) + CLAP score + KAD",
        "metrics": {
            metric: {"embeddings": EMBEDDINGS[metric], "checkpoint": checkpoints.get(used[metric])}
            for metric in METRICS
            if present[used[metric]] is not None
        },
        "sampling_rates": {"generated and reference clips": SAMPLING_RATE, "CLAP audio": clap_rate},
        "caption_set": {"source": eval_set, "captions": len(prompts), "sha256": captions},
        "scorers": [s.describe() for s in scorers],
    }


def generate_eval_clips(
    pipeline: DiffusionPipeline,
    name: str,
    ids: Sequence[str],
    prompts: Sequence[str],
    cache_dir: Path,
    seed: int = 0,
    audio_length_in_s: float = 10.0,
    num_inference_steps: int = 200,
    guidance_scale: float = 3.0,
    batch_size: int = 4,
    mixed_precision: str = "no",
    identity: str = "",
) -> list[np.ndarray]:
    """One clip per prompt, seeded per clip id, cached on disk by pipeline (its ``identity``: what
    it was loaded from and its weights' files, so another model given the same ``name`` never meets
    the first one's clips) + prompt + seed + settings
    (at the model's own rate and channels); returned at the metrics' rate, 16 kHz mono. Under
    ``accelerate launch`` each process renders whole batches of its own; every process returns all clips."""
    settings = f"{audio_length_in_s}:{num_inference_steps}:{guidance_scale}:{identity}"
    if mixed_precision != "no":  # fp32 clips keep the cache names they always had
        settings += f":{mixed_precision}"
    folder = cache_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        folder / (hashlib.sha256(f"{clip}|{prompt}|{seed}|{settings}".encode()).hexdigest()[:20] + ".wav")
        for clip, prompt in zip(ids, prompts)
    ]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    todo = [
        i for batch in my_batches(todo, batch_size, "clips to generate") for i in batch
    ]  # this process's whole batches
    rate = family_of(pipeline).sampling_rate
    seeds = [[seed + int(hashlib.sha256(ids[i].encode()).hexdigest()[:8], 16) % 2**31] for i in todo]
    for positions, audios in render_clips(
        pipeline,
        [prompts[i] for i in todo],
        seeds,
        batch_size,
        audio_length_in_s,
        num_inference_steps,
        guidance_scale,
        desc=f"generating {name}",
        mixed_precision=mixed_precision,
    ):
        for position, audio in zip(positions, audios):
            sf.write(paths[todo[position]], audio, rate, subtype="FLOAT")
    wait_for_everyone()  # every process's clips are on disk
    return [decode_audio(str(p), SAMPLING_RATE, where=str(p), allow_silent=True) for p in paths]


def table4_markdown(results: dict[str, dict[str, float | None]]) -> str:
    """One row per model, columns FD, FAD, KAD, IS, KL, CLAP as the paper's Table 4, then one column
    per scorer (its mean over the clips; higher is better)."""
    scorers = [k for k in next(iter(results.values()), {}) if k not in METRICS and k != "IS_std"]
    columns = [*METRICS, *scorers]
    header = "| Model | " + " | ".join(f"{m} {BETTER.get(m, '↑')}" for m in columns) + " |"
    lines = [header, "|---|" + "---:|" * len(columns)]
    for model, values in results.items():
        numbers = [values.get(m) for m in columns]
        cells = ["—" if v is None or math.isnan(v) else f"{v:.3f}" for v in numbers]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_results(results: dict[str, dict[str, float | None]], path: Path) -> Path:

    present = [m for m in METRICS if any(v.get(m) is not None for v in results.values())]
    figure, axes = subplots(1, max(1, len(present)), figsize=(2.8 * max(1, len(present)), 3), squeeze=False)
    for axis, metric in zip(axes[0], present):
        names = list(results)
        values = [results[n].get(metric) or 0.0 for n in names]
        axis.bar(range(len(names)), values, color=[f"C{i}" for i in range(len(names))])
        axis.set_xticks(range(len(names)), names, rotation=20, fontsize=7)
        axis.set_title(f"{metric} {BETTER[metric]}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def stand_in_note(backbones: str) -> str | None:
    """What to say of metrics computed with ``--backbones`` other than the public checkpoints (None
    for the public ones): random stand-ins measure nothing another run or paper can be compared with."""
    if backbones == "public":
        return None
    return (
        f"computed with the '{backbones}' stand-in backbones (random weights built in code, not the "
        "published CNN14 / VGGish / CLAP): not comparable with published numbers or with any other run"
    )


def write_report(
    results: dict[str, dict[str, float | None]],
    output_dir: Path,
    details: dict | None = None,
    note: str | None = None,
) -> dict[str, Path]:
    """``results.json``, ``results.md`` (Table 4 layout) and ``results.png``; ``note`` (say, that the
    backbones were stand-ins: :func:`stand_in_note`) goes under the table and into the JSON."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"results": results, **(details or {}), **({"note": note} if note else {})}
    (output_dir / "results.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    markdown = table4_markdown(results) + (f"\n\n**Not comparable:** {note}." if note else "")
    (output_dir / "results.md").write_text(markdown + "\n", encoding="utf-8")
    return {
        "json": output_dir / "results.json",
        "markdown": output_dir / "results.md",
        "plot": plot_results(results, output_dir / "results.png"),
    }


def push_metrics_to_card(
    repo_id: str,
    metrics: dict[str, float | None],
    dataset_name: str,
    dataset_type: str,
    token: str | None = None,
    note: str | None = None,
) -> None:
    """Write Table 4's metrics into ``repo_id``'s model card: model-index results and the card's
    Evaluation section (with ``note``, the section only, marked: :func:`~baton_tta.hub.cards.with_evaluation`)."""
    card = ModelCard.load(repo_id, token=token)
    table = {name: metrics.get(name) for name in METRICS}
    updated = with_evaluation(card, table, dataset_name, dataset_type, note=note)
    push_card(updated, repo_id, token=token, commit_message="Add evaluation results")
    done = "would be added (dry run)" if is_dry_run() else "added"
    print(f"evaluation results {done} to the model card of {repo_id}")
