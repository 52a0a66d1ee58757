"""The toy world's shared facts: its two tasks and their event-group sizes, the prompt split every
toy experiment uses (training and held-out, disjoint), and the simulated people who label clips."""

from __future__ import annotations

from collections.abc import Mapping

from datasets import Dataset, concatenate_datasets

from baton_tta.toy.datasets import toy_prompt_pool
from baton_tta.toy.oracle import OracleAnnotator

TASKS = ("integrity", "temporal")
#: Events per caption: integrity pairs and triples (BATON's 2–3 labels), temporal ordered triples.
GROUP_SIZES: dict[str, tuple[int, ...]] = {"integrity": (2, 3), "temporal": (3,)}


def _per_task(value: int | Mapping[str, int]) -> Mapping[str, int]:
    return value if isinstance(value, Mapping) else dict.fromkeys(TASKS, value)


def toy_prompt_split(
    train: int | Mapping[str, int],
    held_out: int | Mapping[str, int],
    seed: int = 0,
    group_sizes: Mapping[str, tuple[int, ...]] = GROUP_SIZES,
) -> tuple[Dataset, Dataset]:
    """``train`` and ``held_out`` prompts per task (one count for both tasks, or one per task),
    disjoint, from every event group of the task's sizes, shuffled with ``seed``: the held-out set
    is as large as the toy vocabulary allows."""
    train, held_out = _per_task(train), _per_task(held_out)
    parts: dict[str, list[Dataset]] = {"train": [], "held_out": []}
    for task in TASKS:
        pool = toy_prompt_pool(task, group_sizes[task], seed=seed)
        wanted = train[task] + held_out[task]
        if wanted > len(pool):
            raise ValueError(
                f"{task}: {wanted} prompts asked for, the toy world has {len(pool)} event groups "
                f"of sizes {group_sizes[task]}"
            )
        parts["train"].append(pool.select(range(train[task])))
        parts["held_out"].append(pool.select(range(train[task], wanted)))
    return concatenate_datasets(parts["train"]), concatenate_datasets(parts["held_out"])


def every_toy_prompt(seed: int = 0) -> Dataset:
    """Every caption the toy world writes with ``seed`` — integrity pairs and triples, temporal
    ordered pairs and triples — with its events and task: what the oracle needs to judge any of them."""
    sizes = {"integrity": (2, 3), "temporal": (2, 3)}
    return concatenate_datasets([toy_prompt_pool(task, sizes[task], seed=seed) for task in TASKS])


def simulated_people(seed: int = 0, noise: float = 0.05, skip: float = 0.05) -> OracleAnnotator:
    """The toy world's annotators: the oracle with a share ``noise`` of labels flipped and ``skip``
    skipped (5 % each unless told)."""
    return OracleAnnotator(noise=noise, skip=skip, seed=seed + 7)
