"""Evaluate text-to-audio pipelines as the paper's Table 4: FD, FAD, IS, KL and CLAP score.

Clips are generated once per (pipeline, prompt, seed) and kept on disk, each clip is embedded once
per backbone, and every metric is computed from those arrays in one pass. FD, FAD and KL compare with
reference recordings of the same clip ids (AudioCaps); IS and CLAP score need only the generated clips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm.auto import tqdm

from baton_tta.metrics.cnn14 import Cnn14
from baton_tta.metrics.functions import clap_score, frechet_distance, inception_score, kl_divergence
from baton_tta.metrics.vggish import VGGish
from baton_tta.pipelines.pipeline_tango import TangoPipeline

logger = logging.getLogger(__name__)
METRICS = ("FD", "FAD", "IS", "KL", "CLAP")
BETTER = {"FD": "↓", "FAD": "↓", "IS": "↑", "KL": "↓", "CLAP": "↑"}


class ClapEmbedder:
    """CLAP text and audio embeddings (transformers ``ClapModel``) for the CLAP score."""

    def __init__(self, model, tokenizer, feature_extractor):
        self.model, self.tokenizer, self.feature_extractor = model.eval(), tokenizer, feature_extractor

    @torch.no_grad()
    def texts(self, prompts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(prompts, padding=True, truncation=True, return_tensors="pt")
        return self.model.get_text_features(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        ).pooler_output.numpy()

    @torch.no_grad()
    def audios(self, waves_48k: list[np.ndarray]) -> np.ndarray:
        features = self.feature_extractor(waves_48k, sampling_rate=48000, return_tensors="pt")
        return self.model.get_audio_features(
            input_features=features["input_features"], is_longer=features.get("is_longer")
        ).pooler_output.numpy()


@dataclass
class Backbones:
    """What the metrics run on; any may be None, and the metrics that need it are then skipped."""

    cnn14: Cnn14 | None = None
    vggish: VGGish | None = None
    clap: ClapEmbedder | None = None


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
    from baton_tta.data.audio import resample

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
        waves_48k = [resample(np.asarray(w, np.float32), 16000, 48000) for w in waves_16k]
        out.clap_audio = np.concatenate(
            [
                backbones.clap.audios(waves_48k[i : i + batch_size])
                for i in range(0, len(waves_48k), batch_size)
            ]
        )
        out.counts["clap"] = len(waves_16k)
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
    ):
        result["FD"] = frechet_distance(generated.panns_embedding, reference.panns_embedding)
        result["KL"] = kl_divergence(
            reference.panns_logits, generated.panns_logits, reference.ids, generated.ids
        )
    if reference is not None and generated.vggish_frames is not None and reference.vggish_frames is not None:
        result["FAD"] = frechet_distance(generated.vggish_frames, reference.vggish_frames)
    if generated.panns_logits is not None:
        splits = min(is_splits, len(generated.ids))
        result["IS"], result["IS_std"] = inception_score(generated.panns_logits, splits=splits)
    if generated.clap_audio is not None and backbones.clap is not None:
        result["CLAP"] = clap_score(backbones.clap.texts(list(prompts)), generated.clap_audio)
    return result


def generate_eval_clips(
    pipeline: TangoPipeline,
    name: str,
    ids: Sequence[str],
    prompts: Sequence[str],
    cache_dir: Path,
    seed: int = 0,
    audio_length_in_s: float = 10.0,
    num_inference_steps: int = 200,
    guidance_scale: float = 3.0,
    batch_size: int = 4,
) -> list[np.ndarray]:
    """One clip per prompt, seeded per clip id, cached on disk by pipeline + prompt + seed + settings."""
    settings = f"{audio_length_in_s}:{num_inference_steps}:{guidance_scale}"
    folder = cache_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = [
        folder / (hashlib.sha256(f"{clip}|{prompt}|{seed}|{settings}".encode()).hexdigest()[:20] + ".wav")
        for clip, prompt in zip(ids, prompts)
    ]
    todo = [i for i, p in enumerate(paths) if not p.is_file()]
    pipeline.set_progress_bar_config(disable=True)
    for start in tqdm(range(0, len(todo), batch_size), desc=f"generating {name}", disable=not todo):
        chunk = todo[start : start + batch_size]
        generators = [
            torch.Generator(device=pipeline.device).manual_seed(
                seed + int(hashlib.sha256(ids[i].encode()).hexdigest()[:8], 16) % 2**31
            )
            for i in chunk
        ]
        audios = pipeline(
            [prompts[i] for i in chunk],
            audio_length_in_s=audio_length_in_s,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=generators,
        ).audios
        for i, audio in zip(chunk, audios):
            sf.write(paths[i], audio, pipeline.sampling_rate, subtype="FLOAT")
    return [sf.read(p, dtype="float32")[0] for p in paths]


def table4_markdown(results: dict[str, dict[str, float | None]]) -> str:
    """One row per model, columns FD, FAD, IS, KL, CLAP, as the paper's Table 4."""
    header = "| Model | " + " | ".join(f"{m} {BETTER[m]}" for m in METRICS) + " |"
    lines = [header, "|---|" + "---:|" * len(METRICS)]
    for model, values in results.items():
        cells = [
            "—" if values.get(m) is None or math.isnan(values[m]) else f"{values[m]:.3f}" for m in METRICS
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_results(results: dict[str, dict[str, float | None]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [m for m in METRICS if any(v.get(m) is not None for v in results.values())]
    figure, axes = plt.subplots(
        1, max(1, len(present)), figsize=(2.8 * max(1, len(present)), 3), squeeze=False
    )
    for axis, metric in zip(axes[0], present):
        names = list(results)
        values = [results[n].get(metric) or 0.0 for n in names]
        axis.bar(range(len(names)), values, color=[f"C{i}" for i in range(len(names))])
        axis.set_xticks(range(len(names)), names, rotation=20, fontsize=7)
        axis.set_title(f"{metric} {BETTER[metric]}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(
    results: dict[str, dict[str, float | None]], output_dir: Path, details: dict | None = None
) -> dict[str, Path]:
    """``results.json``, ``results.md`` (Table 4 layout) and ``results.png``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "results.json").write_text(
        json.dumps({"results": results, **(details or {})}, indent=2), encoding="utf-8"
    )
    (output_dir / "results.md").write_text(table4_markdown(results) + "\n", encoding="utf-8")
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
) -> None:
    """Write the metrics into ``repo_id``'s model card as model-index ``EvalResult``s."""
    from huggingface_hub import EvalResult, ModelCard

    card = ModelCard.load(repo_id, token=token)
    results = [
        EvalResult(
            task_type="text-to-audio",
            dataset_type=dataset_type,
            dataset_name=dataset_name,
            metric_type=m.lower(),
            metric_name=m,
            metric_value=round(float(v), 4),
        )
        for m, v in metrics.items()
        if m in METRICS and v is not None and not math.isnan(v)
    ]
    card.data.eval_results = results
    card.data.model_name = card.data.model_name or repo_id.split("/")[-1]
    card.push_to_hub(repo_id, token=token, commit_message="Add evaluation results")
