"""Prove the LAION-CLAP converter against LAION-CLAP's own code, not against our own mapping.

    python benchmarks/verify_laion_clap_import.py

1. Builds (once, cached) an isolated virtual environment with ``laion-clap`` and its pins (numpy<2),
   on the same CPU torch as the project.
2. Runs ``laion_clap_reference.py`` there: ``laion_clap.CLAP_Module`` with random weights for
   HTSAT-tiny, HTSAT-tiny + fusion and HTSAT-base, its checkpoints, inputs and embeddings.
3. Here, converts each checkpoint with :func:`baton_tta.convert_laion_clap.load_laion_clap_model` and
   embeds the same inputs with transformers' ``ClapModel``; prints the max |difference| per variant:
   text embeddings; audio embeddings from the same mel input; and, for the unfused models, audio from
   the same waveform, each side with its own front end (LAION's torchlibrosa STFT in float32 vs
   ``ClapFeatureExtractor`` in numpy). The target is 1e-4; the exit status is 1 above it.

``--fixture`` rewrites ``tests/fixtures/laion_clap_keys.json.gz`` (key → shape per variant), the
unit test's copy of LAION's real key names.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np
import torch

from baton_tta.convert_laion_clap import laion_feature_extractor, load_laion_clap_model

HERE = Path(__file__).resolve().parent
FIXTURE = HERE.parent / "tests" / "fixtures" / "laion_clap_keys.json.gz"
TOLERANCE = 1e-4


def ensure_environment(path: Path, torch_spec: str, laion_clap_spec: str) -> Path:
    """The isolated environment's python, building it on first use. torch goes in first, from the
    same spec as the project, so nothing resolves a CUDA build; laion-clap declares no torch pin."""
    python = path / "bin" / "python"
    marker = path / ".installed"
    if marker.exists() and marker.read_text() == f"{torch_spec} {laion_clap_spec}":
        return python
    venv.create(path, with_pip=True, clear=True)
    for requirement in ([torch_spec], [laion_clap_spec, "pillow"]):  # pillow: imported, not declared
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirement], check=True)
    marker.write_text(f"{torch_spec} {laion_clap_spec}")
    return python


def max_abs(a: torch.Tensor | np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - b.astype(np.float64)).max())


@torch.no_grad()
def compare(variant: str, work: Path) -> dict[str, float | str]:
    model, report = load_laion_clap_model(work / f"{variant}.pt")
    ref = np.load(work / f"{variant}.npz")
    text = model.get_text_features(
        input_ids=torch.from_numpy(ref["input_ids"]), attention_mask=torch.from_numpy(ref["attention_mask"])
    ).pooler_output
    row: dict[str, float | str] = {"variant": variant, "architecture": report.architecture}
    row["text"] = max_abs(text, ref["text_embeds"])
    features = torch.from_numpy(ref["input_features"])
    if report.config.audio_config.enable_fusion:
        row["audio_mel"] = max(
            max_abs(
                model.get_audio_features(
                    input_features=features, is_longer=torch.from_numpy(ref[f"is_longer_{name}"])[:, None]
                ).pooler_output,
                ref[f"audio_embeds_{name}"],
            )
            for name in ("mixed", "short")
        )
        row["audio_waveform"] = "n/a (LAION's fusion front end needs torchaudio)"
    else:
        row["audio_mel"] = max_abs(
            model.get_audio_features(input_features=features).pooler_output, ref["audio_embeds_mel"]
        )
        waves = [np.asarray(w) for w in ref["waveforms"]]
        quantised = [np.clip(w, -1, 1) for w in waves]  # LAION's int16 round trip, applied below
        quantised = [(np.round(w * 32767.0).astype(np.int16) / 32767.0).astype(np.float32) for w in quantised]
        inputs = laion_feature_extractor(False)(quantised, sampling_rate=48_000, return_tensors="pt")
        embeds = model.get_audio_features(input_features=inputs["input_features"]).pooler_output
        row["audio_waveform"] = max_abs(embeds, ref["audio_embeds_waveform"])
    row["mel_filters"] = (
        report.mel_filter_max_abs_diff if report.mel_filter_max_abs_diff is not None else "n/a"
    )
    return row


def write_fixture(work: Path, variants: list[str]) -> None:
    keys = {variant: json.loads((work / f"{variant}.keys.json").read_text()) for variant in variants}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(FIXTURE, "wt", encoding="utf-8") as handle:
        json.dump(keys, handle, sort_keys=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_env = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "baton-tta" / "laion-clap-env"
    )
    parser.add_argument("--env", type=Path, default=default_env, help="isolated environment (built once)")
    parser.add_argument("--torch_spec", default=os.environ.get("TORCH_SPEC", "torch==2.13.0"))
    parser.add_argument("--laion_clap_spec", default="laion-clap==1.1.7")
    parser.add_argument("--fixture", action="store_true", help=f"rewrite {FIXTURE.name}")
    args = parser.parse_args()

    started = time.perf_counter()
    python = ensure_environment(args.env, args.torch_spec, args.laion_clap_spec)
    print(f"isolated environment ready: {args.env} ({time.perf_counter() - started:.0f} s)", flush=True)
    variants = ["htsat-tiny", "htsat-tiny-fusion", "htsat-base"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(
            [str(python), str(HERE / "laion_clap_reference.py"), "--out", str(work), "--variants", *variants],
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        rows = [compare(variant, work) for variant in variants]
        if args.fixture:
            write_fixture(work, variants)
    columns = ["variant", "architecture", "text", "audio_mel", "audio_waveform", "mel_filters"]
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        cells = [f"{row[c]:.2e}" if isinstance(row[c], float) else str(row[c]) for c in columns]
        print("| " + " | ".join(cells) + " |")
    measured = ("text", "audio_mel", "audio_waveform")
    worst = max(float(row[c]) for row in rows for c in measured if isinstance(row[c], float))
    print(
        f"\nworst embedding difference {worst:.2e} (target <= {TOLERANCE:.0e}); {time.perf_counter() - started:.0f} s"
    )
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
