"""How every toy model is judged: clips generated with DDIM from fixed seeds (the same seeds for
every model, so differences are paired), the noiseless oracle's verdict per clip, rates with
intervals per task, and the CLAP score on the toy CLAP."""

from __future__ import annotations

from typing import Any

import numpy as np
from datasets import Dataset
from diffusers import DDIMScheduler
from transformers import ClapFeatureExtractor, ClapModel

from baton_tta.clap import ClapEmbedder
from baton_tta.data.audio import SAMPLING_RATE
from baton_tta.data.generation import clip_seed, render_clips
from baton_tta.metrics.functions import clap_score
from baton_tta.pipelines.pipeline_tango import TangoPipeline
from baton_tta.tiny import tiny_tokenizer
from baton_tta.toy.config import ToyLoopConfig
from baton_tta.toy.oracle import OracleAnnotator
from baton_tta.toy.statistics import bootstrap_interval, intraclass_correlation
from baton_tta.toy.world import TASKS

#: Offsets of the judge's clip seeds from the run's seed: far from stage 1's (seed + 100), one block
#: per task.
JUDGE_SEED_OFFSET = 10_000
TASK_SEED_STRIDE = 1_000_000


def clip_seeds(prompts: int, clips_per_prompt: int, seed: int) -> list[list[int]]:
    """Each prompt's clip seeds: clip k of prompt i is seeded ``seed + i · clips_per_prompt + k``."""
    return [
        [clip_seed(seed, i, k, clips_per_prompt) for k in range(clips_per_prompt)] for i in range(prompts)
    ]


def generate(
    pipeline: TangoPipeline, prompts: list[str], clips_per_prompt: int, config: ToyLoopConfig, seed: int
) -> list[np.ndarray]:
    """``clips_per_prompt`` clips per prompt, prompt-major, with DDIM; clip k of prompt i is seeded
    ``seed + i · clips_per_prompt + k`` (stage 1's rule, :func:`baton_tta.data.generation.clip_seed`)."""
    pipeline.scheduler = DDIMScheduler.from_config(pipeline.scheduler.config)
    seeds = clip_seeds(len(prompts), clips_per_prompt, seed)
    waveforms: list[np.ndarray] = []
    for _, audios in render_clips(
        pipeline,
        prompts,
        seeds,
        prompts_per_batch=max(1, 16 // clips_per_prompt),
        audio_length_in_s=config.duration_s,
        num_inference_steps=config.inference_steps,
        guidance_scale=config.guidance_scale,
        desc="generating",
    ):
        waveforms.extend(audios)
    return waveforms


class ToyJudge:
    """The held-out judge of one toy experiment: the noiseless oracle and the toy CLAP."""

    def __init__(
        self, config: ToyLoopConfig, oracle: OracleAnnotator, clap: ClapModel, extractor: ClapFeatureExtractor
    ):
        self.config, self.oracle = config, oracle
        self.clap = ClapEmbedder(clap, tiny_tokenizer(), extractor)

    def __call__(self, name: str, pipeline: TangoPipeline, held_out: Dataset) -> dict[str, Any]:
        """Every held-out prompt's clips (``eval_clips_per_prompt`` of its task, the same seeds for
        every model) judged by the oracle; rates with intervals and ICC per task, the share of clips
        with an unnamed event, the CLAP score, and the prompts and clip seeds judged."""
        c = self.config
        per_prompt: dict[str, list[list[bool]]] = {task: [] for task in TASKS}
        #: what was judged — each prompt with its clips' seeds — so rows can be checked to be paired
        judged: dict[str, list[tuple[str, list[int]]]] = {}
        unnamed = 0
        all_prompts, all_waveforms = [], []
        for index, task in enumerate(TASKS):
            rows = held_out.filter(lambda row, task=task: row["task"] == task)
            n = c.eval_clips_per_prompt[task]
            seed = c.seed + JUDGE_SEED_OFFSET + TASK_SEED_STRIDE * index
            waveforms = generate(pipeline, list(rows["prompt"]), n, c, seed=seed)
            judged[task] = list(zip(rows["prompt"], clip_seeds(len(rows), n, seed), strict=True))
            for p, row in enumerate(rows):
                verdicts = [
                    self.oracle.verdict(row["events"], task, w) for w in waveforms[p * n : (p + 1) * n]
                ]
                per_prompt[task].append([aligned for aligned, _ in verdicts])
                unnamed += sum(extra > 0 for _, extra in verdicts)
            all_prompts += [prompt for prompt in rows["prompt"] for _ in range(n)]
            all_waveforms += waveforms
        #: the share of clips with an event the caption does not name: a quality check that collapse
        #: (noise, every event at once) cannot pass while alignment is what it rewards
        result: dict[str, Any] = {
            "model": name,
            "aligned": per_prompt,
            "judged": judged,
            "unnamed_event_rate": unnamed / max(1, len(all_waveforms)),
        }
        for task in TASKS:
            result[task] = bootstrap_interval(per_prompt[task], c.bootstrap_samples, c.seed)
            result[f"{task} icc"] = intraclass_correlation(per_prompt[task])
        texts = self.clap.embed_texts(all_prompts)
        result["clap_score"] = clap_score(texts, self.clap.embed_audios(all_waveforms, SAMPLING_RATE))
        return result
