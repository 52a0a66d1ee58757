"""``baton-tta evaluate``: BATON stage 4 — pipelines × evaluation prompts → Table 4 (FD, FAD, IS, KL,
CLAP) with KAD beside FAD, and a column per scorer of the registry (``--scorers judge:… clap:…``).
``results.json`` records the protocol: each metric's embeddings and checkpoint, the sample rates, the
caption set and its hash, the scorers.

    baton-tta evaluate --pipelines tango=you/tango-diffusers baton=outputs/baton-tango \
        --eval_set outputs/eval_sets/temporal --reference_audio_dir audiocaps/test ...
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from diffusers import DiffusionPipeline

from baton_tta.data.audio import SAMPLING_RATE, decode_audio
from baton_tta.data.distributed import is_main_process, process_state
from baton_tta.data.loading import load_raw
from baton_tta.data.settings import SettingsError
from baton_tta.families.precision import default_mixed_precision
from baton_tta.metrics.evaluation import (
    Backbones,
    compute_metrics,
    embed_clips_shared,
    generate_eval_clips,
    load_backbones,
    protocol_record,
    push_metrics_to_card,
    score_clips_shared,
    stand_in_note,
    table4_markdown,
    write_report,
)
from baton_tta.metrics.functions import kad_bandwidth
from baton_tta.scripts.builtin import generating_pipeline, named_scorer, resolve_backbones
from baton_tta.scripts.utils import command, default_repo_id, mixed_precision_field, parse

logger = logging.getLogger(__name__)


@dataclass
class EvaluateArguments:
    pipelines: list[str] = field(
        metadata={"help": "NAME=PATH_OR_ID (or PATH, or 'tiny-random'), one per model (base, fine-tuned …)."}
    )
    eval_set: str = field(
        metadata={
            "help": "Prompt set (build_eval_sets.py output, dataset/CSV with 'prompt' and an id column)."
        }
    )
    output_dir: str = field(
        default="outputs/evaluation", metadata={"help": "results.json/.md/.png and the clip cache."}
    )
    prompt_column: str = field(
        default="prompt", metadata={"help": "Caption column of the eval set (e.g. 'caption', 'captions')."}
    )
    id_column: str = field(
        default="audiocap_id", metadata={"help": "Clip id column (pairs clips with references)."}
    )
    reference_audio_dir: str | None = field(
        default=None, metadata={"help": "Folder of reference WAV/FLAC named <id>.<ext>."}
    )
    backbones: str = field(
        default="public", metadata={"help": "'public' (files below) or 'tiny-random' (random, for tests)."}
    )
    cnn14_checkpoint: str | None = field(
        default=None, metadata={"help": "PANNs Cnn14_16k_mAP=0.438.pth (FD, KL, IS)."}
    )
    vggish_checkpoint: str | None = field(
        default=None, metadata={"help": "torchvggish vggish-10086976.pth (FAD)."}
    )
    clap_model: str | None = field(default=None, metadata={"help": "transformers CLAP id/path (CLAP score)."})
    scorers: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Scorers by kind:source (judge:MODEL, reward-model:PATH, …): one column each, their mean."
        },
    )
    num_inference_steps: int = field(default=200, metadata={"help": "Denoising steps."})
    audio_length_in_s: float = field(default=10.0, metadata={"help": "Clip length."})
    guidance_scale: float = field(default=3.0, metadata={"help": "Classifier-free guidance."})
    seed: int = field(default=0, metadata={"help": "Base seed (each clip id gets its own)."})
    mixed_precision: str | None = mixed_precision_field()
    max_prompts: int | None = field(default=None, metadata={"help": "Evaluate the first n prompts only."})
    push_to_hub: bool = field(
        default=False, metadata={"help": "Write the last model's metrics into its Hub card."}
    )
    hub_model_id: str | None = field(default=None, metadata={"help": "Repo whose card receives the metrics."})

    def __post_init__(self):
        if self.max_prompts is not None and self.max_prompts < 1:
            raise SettingsError(
                f"--max_prompts {self.max_prompts}: at least 1 (leave it out to evaluate all)"
            )
        if self.num_inference_steps < 1 or self.audio_length_in_s <= 0:
            raise SettingsError("--num_inference_steps must be ≥ 1 and --audio_length_in_s > 0")


def backbones_for(args: EvaluateArguments) -> Backbones:
    builtin = resolve_backbones(args.backbones)
    if builtin is not None:
        return builtin
    return load_backbones(args.cnn14_checkpoint, args.vggish_checkpoint, args.clap_model)


def checkpoints_of(args: EvaluateArguments) -> dict[str, str | None]:
    """Which checkpoint each backbone was loaded from ('tiny-random' for the test backbones)."""
    if args.backbones != "public":
        return dict.fromkeys(("cnn14", "vggish", "clap"), args.backbones)
    return {"cnn14": args.cnn14_checkpoint, "vggish": args.vggish_checkpoint, "clap": args.clap_model}


def _pipeline(spec: str, mixed_precision: str) -> tuple[str, DiffusionPipeline, str]:
    """``name=source`` (or a source named after its folder) on this process's device, its denoiser
    cast once for the precision (evaluation only generates), and its identity for the clip cache."""
    name, _, source = spec.partition("=") if "=" in spec else (Path(spec).name or spec, "", spec)
    return name, generating_pipeline(source, mixed_precision)[0], pipeline_identity(source)


def pipeline_identity(source: str) -> str:
    """What a pipeline is, for the clip cache: a local folder by its resolved path and every weight
    file's name, size and modification time (a model retrained into the same folder is another
    model: its cached clips were found reused under the same ``name=``); a Hub id or built-in name as
    given."""
    folder = Path(source)
    if not folder.is_dir():
        return source
    weights = sorted(p for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin", ".pt", ".ckpt"))
    stamps = [f"{p.relative_to(folder)}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in weights]
    return hashlib.sha256("|".join([str(folder.resolve()), *stamps]).encode()).hexdigest()[:16]


def _reference(folder: Path, ids: list[str]) -> list[np.ndarray]:
    waves, missing = [], []
    for clip in ids:
        files = [p for p in folder.glob(f"{clip}.*") if p.suffix.lower() in (".wav", ".flac", ".ogg")]
        if not files:
            missing.append(clip)
            continue
        waves.append(decode_audio(str(files[0]), SAMPLING_RATE, where=str(files[0])))
    if missing:
        raise FileNotFoundError(f"{folder}: no reference audio for {len(missing)} clip id(s): {missing[:10]}")
    return waves


def run_evaluation(args: EvaluateArguments) -> dict[str, dict]:
    prompts_data = load_raw(args.eval_set)
    if args.max_prompts:
        prompts_data = prompts_data.select(range(min(args.max_prompts, len(prompts_data))))
    missing = [c for c in (args.prompt_column, args.id_column) if c not in prompts_data.column_names]
    if missing:
        raise ValueError(
            f"{args.eval_set}: no column(s) {missing} (has {prompts_data.column_names}); "
            "name yours with --prompt_column / --id_column"
        )
    ids, prompts = [str(i) for i in prompts_data[args.id_column]], list(prompts_data[args.prompt_column])
    if args.reference_audio_dir and len(ids) < 2:
        raise SettingsError(
            f"{args.eval_set}: {len(ids)} prompt(s): FD, FAD and KAD compare two sets of clips and need at "
            "least 2 of each (before any clip is generated)"
        )
    backbones = backbones_for(args)
    output = Path(args.output_dir)
    reference = None
    if args.reference_audio_dir:
        reference = embed_clips_shared(ids, _reference(Path(args.reference_audio_dir), ids), backbones)
        if reference.panns_embedding is not None:
            try:
                kad_bandwidth(reference.panns_embedding)  # before any clip is generated
            except ValueError as error:
                raise SettingsError(f"{args.reference_audio_dir}: {error}") from None
    scorers = [named_scorer(spec) for spec in args.scorers]
    results, counts = {}, {}
    precision = args.mixed_precision or default_mixed_precision(process_state().device)
    for spec in args.pipelines:
        name, pipeline, identity = _pipeline(spec, precision)
        waves = generate_eval_clips(
            pipeline,
            name,
            ids,
            prompts,
            output / "clips",
            args.seed,
            args.audio_length_in_s,
            args.num_inference_steps,
            args.guidance_scale,
            mixed_precision=precision,
            identity=identity,
        )
        embedded = embed_clips_shared(ids, waves, backbones)
        counts[name] = embedded.counts
        results[name] = compute_metrics(embedded, prompts, backbones, reference)
        for scorer in scorers:
            results[name][scorer.name] = score_clips_shared(scorer, prompts, waves)
    if not is_main_process():  # the report, the card and the push happen once
        return results
    write_report(
        results,
        output,
        {
            "prompts": len(ids),
            "embedded_clips": counts,
            "eval_set": args.eval_set,
            "mixed_precision": precision,
            **protocol_record(backbones, checkpoints_of(args), prompts, args.eval_set, scorers),
        },
        note=stand_in_note(args.backbones),
    )
    print(f"results written to {output.resolve()}/results.{{json,md,png}}")
    if args.push_to_hub:
        last = list(results)[-1]
        push_metrics_to_card(
            default_repo_id(args.hub_model_id, last),
            results[last],
            dataset_name=Path(args.eval_set).name,
            dataset_type=args.eval_set,
            note=stand_in_note(args.backbones),
        )
    return results


@command
def main(argv: Sequence[str] | None = None) -> None:
    (args,) = parse((EvaluateArguments,), argv)
    results = run_evaluation(args)
    if is_main_process():
        print(table4_markdown(results))


if __name__ == "__main__":
    main()
