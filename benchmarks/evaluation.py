"""Evaluation cost: seconds per 100 clips for embedding (each backbone once per clip), and seconds
for the metrics of one model (dominated by the matrix square root of FD, so not scaled by clips), with tiny and real-size random-weight backbones (Cnn14, VGGish, CLAP HTSAT/RoBERTa).

    python benchmarks/evaluation.py [--clips 100] [--real-clips 20] [--seconds 10]

Real-size rows embed ``--real-clips`` clips and scale to 100 (the table says so). The last column
shows how many times each backbone ran per clip (1 = every clip embedded once).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch
from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

from baton_tta.clap import ClapEmbedder
from baton_tta.metrics.cnn14 import Cnn14
from baton_tta.metrics.evaluation import Backbones, compute_metrics, embed_clips
from baton_tta.metrics.vggish import VGGish
from baton_tta.tiny import tiny_backbones, tiny_tokenizer


def real_backbones() -> Backbones:
    torch.manual_seed(0)
    clap = ClapModel(ClapConfig()).eval()
    return Backbones(
        cnn14=Cnn14(),
        vggish=VGGish(),
        clap=ClapEmbedder(clap, tiny_tokenizer(77), ClapFeatureExtractor(truncation="rand_trunc")),
    )


def row(name: str, backbones: Backbones, clips: int, seconds: float) -> str:
    rng = np.random.default_rng(0)
    waves = [
        (0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * np.arange(int(16000 * seconds)) / 16000)).astype(
            np.float32
        )
        for _ in range(clips)
    ]
    ids = [str(i) for i in range(clips)]
    start = time.perf_counter()
    generated = embed_clips(ids, waves, backbones)
    embed = time.perf_counter() - start
    reference = embed_clips(ids, waves[::-1], backbones)
    start = time.perf_counter()
    compute_metrics(generated, ["a dog barks"] * clips, backbones, reference, is_splits=min(10, clips))
    metrics = time.perf_counter() - start
    scale = 100 / clips
    runs = "/".join(f"{k} {v / clips:g}" for k, v in generated.counts.items())
    note = "" if clips == 100 else f" (×{scale:g} from {clips} clips)"
    return f"| {name} | {embed * scale:.1f}{note} | {metrics:.2f} | {runs} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--real-clips", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--real", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"## Evaluation, {args.seconds:g} s clips, CPU, seconds per 100 clips\n")
    print(
        "| backbones | embedding per 100 clips (Cnn14 + VGGish + CLAP) | metrics once per model (FD, FAD, IS, KL, CLAP) | backbone runs per clip |"
    )
    print("|---|---:|---:|---|")
    print(row("tiny, random", tiny_backbones(), args.clips, args.seconds), flush=True)
    if args.real:
        print(
            row(
                "real size (Cnn14 80 M, VGGish 72 M, CLAP HTSAT+RoBERTa), random",
                real_backbones(),
                args.real_clips,
                args.seconds,
            )
        )


if __name__ == "__main__":
    main()
