"""Reward-model training, 50 epochs over 2,700 clips: the embedding cache (CLAP once per clip and
caption, then the head only) vs the official BATON approach (CLAP re-run for every item in every
epoch), for the tiny CLAP and for a CLAP of the real HTSAT/RoBERTa size with random weights.

The official approach is timed over a few epochs (and, at real size, a sample of clips) and
extrapolated linearly; the table says which numbers are extrapolated. A short run of both approaches
on the same data and seed checks that they end with the same head and the same metrics.

    python benchmarks/reward_training.py [--clips 2700] [--epochs 50] [--real-sample 32]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch
from datasets import Audio, Dataset
from transformers import ClapConfig, ClapFeatureExtractor, ClapProcessor

from baton_tta.data import decode_audio, encode_audio
from baton_tta.reward import BatonRewardConfig, BatonRewardModel, EmbeddingCache, reward_metrics
from baton_tta.tiny import tiny_reward_model, tiny_tokenizer
from baton_tta.toy.tones import tone_labelled_dataset


def real_size_model() -> BatonRewardModel:
    """CLAP HTSAT-unfused geometry (the default ClapConfig), random weights, official 512 head."""
    torch.manual_seed(0)
    model = BatonRewardModel(BatonRewardConfig(clap_config=ClapConfig(), head_hidden_sizes=[512]))
    tokenizer = tiny_tokenizer(model_max_length=77)
    extractor = ClapFeatureExtractor(truncation="rand_trunc")  # unfused model
    return model.set_processor(ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer)).eval()


def clips(n: int, seconds: float) -> Dataset:
    """``n`` labelled clips: the learnable tiny set, lengthened to ``seconds`` by repetition."""
    base = tone_labelled_dataset(n)
    if seconds == 1.0:
        return base
    audio = [
        encode_audio(np.tile(decode_audio(a, 16000), int(seconds)), 16000, a["path"]) for a in base["audio"]
    ]
    return base.remove_columns("audio").add_column("audio", audio).cast_column("audio", Audio(decode=False))


def head_epochs(
    model,
    audio_emb: torch.Tensor,
    text_emb: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    batch: int,
    seed: int,
    embed=None,
):
    """Adam on the head. With ``embed`` (the official approach) every batch's embeddings are recomputed."""
    torch.manual_seed(seed)
    for module in model.head:
        if isinstance(module, torch.nn.Linear):
            module.reset_parameters()
    optimizer = torch.optim.Adam(model.head.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            a, t = embed(rows) if embed is not None else (audio_emb[rows], text_emb[rows])
            loss = model(audio_embeds=a, text_embeds=t, labels=labels[rows]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def official_embedder(model, data: Dataset):
    """What the official Dataset.__getitem__ did: load one clip, run CLAP on it and on its caption,
    for every item of every batch of every epoch."""

    @torch.no_grad()
    def embed(rows: torch.Tensor):
        audio, text = [], []
        for row in rows.tolist():
            item = data[row]
            audio.append(model.embed_audio(**model.audio_inputs([decode_audio(item["audio"], 48000)], 48000)))
            text.append(model.embed_text(**model.text_inputs([item["prompt"]])))
        return torch.cat(audio), torch.cat(text)

    return embed


def measure(
    name: str, model, data: Dataset, epochs: int, official_epochs: int, official_rows: int, batch: int
) -> list[str]:
    """Cached: embed ``official_rows`` clips (all of them for the tiny model), scale to the whole set,
    then time the head's epochs on embeddings of the full size. Official: ``official_epochs`` epochs
    over ``official_rows`` clips, scaled to the whole run."""
    labels = torch.tensor(data["label"], dtype=torch.float32)
    sample = data.select(range(official_rows))
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        cache = EmbeddingCache(cache_dir, model)
        audio = torch.from_numpy(cache.embed_audios(list(sample["audio"])))
        text = torch.from_numpy(cache.embed_texts(list(sample["prompt"])))
        embed_seconds = (time.perf_counter() - start) * len(data) / official_rows
        repeats = -(-len(data) // official_rows)
        audio, text = audio.repeat(repeats, 1)[: len(data)], text.repeat(repeats, 1)[: len(data)]
        start = time.perf_counter()
        head_epochs(model, audio, text, labels, epochs, batch, seed=0)
        cached_seconds = embed_seconds + time.perf_counter() - start

    start = time.perf_counter()
    head_epochs(
        model,
        None,
        None,
        labels[:official_rows],
        official_epochs,
        batch,
        seed=0,
        embed=official_embedder(model, sample),
    )
    official_measured = time.perf_counter() - start
    official_seconds = official_measured * (len(data) / official_rows) * (epochs / official_epochs)
    extrapolated = official_rows < len(data) or official_epochs < epochs
    note = (
        f"extrapolated from {official_epochs} epoch(s) × {official_rows} clips"
        if extrapolated
        else "measured"
    )
    return [
        f"| {name} | {len(data)} | {epochs} | {cached_seconds:.1f} (embed {embed_seconds:.1f}) | "
        f"{official_seconds:.1f} ({note}) | {official_seconds / cached_seconds:.1f}× |"
    ]


def same_result_check(model, data: Dataset, epochs: int, batch: int) -> str:
    """Both approaches on the same data and seed: final head weights and validation metrics."""
    labels = torch.tensor(data["label"], dtype=torch.float32)
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = EmbeddingCache(cache_dir, model)
        audio = torch.from_numpy(cache.embed_audios(list(data["audio"])))
        text = torch.from_numpy(cache.embed_texts(list(data["prompt"])))
    head_epochs(model, audio, text, labels, epochs, batch, seed=0)
    cached_head = {k: v.clone() for k, v in model.head.state_dict().items()}
    with torch.no_grad():
        cached_scores = model(audio_embeds=audio, text_embeds=text).rewards.numpy()
    head_epochs(model, None, None, labels, epochs, batch, seed=0, embed=official_embedder(model, data))
    with torch.no_grad():
        official_scores = model(audio_embeds=audio, text_embeds=text).rewards.numpy()
    diff = max(float((cached_head[k] - v).abs().max()) for k, v in model.head.state_dict().items())
    a, b = reward_metrics(labels.numpy(), cached_scores), reward_metrics(labels.numpy(), official_scores)
    return (
        f"same data, {epochs} epochs, seed 0: max |head weight difference| = {diff:.2e}; "
        f"accuracy {a['accuracy']:.3f} vs {b['accuracy']:.3f}, ROC-AUC {a['roc_auc']:.3f} vs {b['roc_auc']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=2700)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--tiny-official-epochs", type=int, default=2)
    parser.add_argument("--real-sample", type=int, default=32)
    parser.add_argument("--real", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    print(f"## Reward-model training, {args.epochs} epochs (CPU, seconds)\n")
    print(
        "| backbone | clips | epochs | cached | official (CLAP every item, every epoch) | speed-up |\n|---|---:|---:|---:|---:|---:|"
    )
    data = clips(args.clips, 1.0)
    rows = measure(
        "tiny CLAP (1 s clips)",
        tiny_reward_model(),
        data,
        args.epochs,
        args.tiny_official_epochs,
        len(data),
        32,
    )
    print("\n".join(rows), flush=True)
    if args.real:
        real = real_size_model()
        real_data = clips(args.clips, 10.0)
        print(
            "\n".join(
                measure(
                    "CLAP HTSAT + RoBERTa size, random (10 s clips)",
                    real,
                    real_data,
                    args.epochs,
                    1,
                    args.real_sample,
                    32,
                )
            )
        )
        print(
            f"\n(real size: both columns embed {args.real_sample} clips and scale to {args.clips}; the head epochs are measured)"
        )
    print("\n" + same_result_check(tiny_reward_model(), clips(256, 1.0), epochs=5, batch=32))


if __name__ == "__main__":
    main()
