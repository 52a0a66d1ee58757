"""Captions from label groups (BATON §3.1): 2 labels heard together (integrity) or 3 in order (temporal).

Two generators share one interface. :class:`TemplateCaptionGenerator` (default, offline) joins label
phrases with a conjunction drawn from the task's list. :class:`LLMCaptionGenerator` sends the paper's
Table 1 instruction to any local ``transformers`` text-generation model, checks the answer (every event
mentioned; for temporal captions, in the stated order) and falls back to the template when the answer
fails, counting fallbacks.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from datasets import Dataset
from tqdm.auto import tqdm

from baton_tta.prompts.vocabulary import label_keywords, label_phrase

logger = logging.getLogger(__name__)

INTEGRITY_CONJUNCTIONS = ("and", "with", "while", "as", "accompanied by", "in the background")
TEMPORAL_CONJUNCTIONS = ("followed by", "then", "before", "after", "first … then")
CONJUNCTIONS = {"integrity": INTEGRITY_CONJUNCTIONS, "temporal": TEMPORAL_CONJUNCTIONS}
DEFAULT_GROUP_SIZE = {"integrity": 2, "temporal": 3}


@dataclass(frozen=True)
class Caption:
    text: str
    conjunction: str
    source: str  # "template", "llm" or "template_fallback"


def _join_integrity(phrases: list[str], conjunction: str) -> str:
    head = ", ".join(phrases[:-1])
    last = phrases[-1]
    forms = {
        "and": f"{head} and {last}",
        "with": f"{head} with {last}",
        "while": f"{head} while {last} can be heard",
        "as": f"{head} as {last} sounds",
        "accompanied by": f"{head} accompanied by {last}",
        "in the background": f"{head} with {last} in the background",
    }
    return forms[conjunction]


def _join_temporal(phrases: list[str], conjunction: str) -> str:
    first, rest = phrases[0], phrases[1:]
    tail = "".join(f", then {p}" for p in rest[1:])
    forms = {
        "followed by": f"{first} followed by {rest[0]}{tail}",
        "then": f"{first}, then {rest[0]}{tail}",
        "before": f"{first} before {rest[0]}{tail}",
        "after": f"after {first}, {rest[0]}{tail}",
        "first … then": f"first {first}, then {rest[0]}" + "".join(f", and finally {p}" for p in rest[1:]),
    }
    return forms[conjunction]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class TemplateCaptionGenerator:
    """Offline captions: label phrases joined by a random conjunction of the task's list, so no
    single conjunction dominates (as the paper's instruction asks)."""

    def caption(self, events: Sequence[str], task: str, rng: random.Random) -> Caption:
        if task not in CONJUNCTIONS:
            raise ValueError(f"task must be one of {sorted(CONJUNCTIONS)}, got {task!r}")
        if len(events) < 2:
            raise ValueError(f"a caption needs at least 2 events, got {list(events)}")
        conjunction = rng.choice(CONJUNCTIONS[task])
        phrases = [label_phrase(event) for event in events]
        join = _join_integrity if task == "integrity" else _join_temporal
        return Caption(_sentence(join(phrases, conjunction)), conjunction, "template")


def llm_instruction(events: Sequence[str], task: str) -> str:
    """The paper's Table 1 instruction (integrity), and its temporal counterpart, filled in."""
    numbered = ", ".join(f"Event_{i + 1}" for i in range(len(events)))
    joined = ", Conjunction, ".join(f"Event_{i + 1}" for i in range(len(events)))
    labels = ", ".join(f'"{event}"' for event in events)
    conjunctions = ", ".join(f'"{c}"' for c in CONJUNCTIONS[task])
    order = (
        " Keep the events in the given order: the caption must describe them happening one after another in that order."
        if task == "temporal"
        else " The events happen together."
    )
    return (
        f"Given a label group, [{labels}], the {len(events)} labels in it will be described into an audio event "
        f"group: {{{numbered}}}. Then, please join the audio event group with conjunction to form an audio caption, "
        f'defined as "{joined}".{order}\n'
        f"Conjunction list: [{conjunctions}]\n"
        "Please ensure to randomly select conjunctions from the list and avoid relying on a single conjunction.\n"
        "Please try to generate captions that match human language expressions as much as possible.\n"
        "Answer with the caption only.\nCaption:"
    )


def _first_line(answer: str) -> str:
    for line in answer.strip().splitlines():
        line = re.sub(r"^\s*(caption\s*:)?\s*", "", line, flags=re.IGNORECASE).strip().strip('"').strip()
        if line:
            return line
    return ""


def check_caption(text: str, events: Sequence[str], task: str) -> str | None:
    """Why ``text`` is not a valid caption for ``events`` (None when it is): every event must be
    mentioned by one of its label words; temporal captions must mention them in order."""
    words = re.findall(r"[a-z]+", text.lower())
    if not 3 <= len(words) <= 40:
        return f"caption has {len(words)} words"
    positions = []
    for event in events:
        keys = label_keywords(event)
        hits = [i for i, word in enumerate(words) if word in keys or word.rstrip("s") in keys]
        if not hits:
            return f"event {event!r} is not mentioned"
        positions.append(hits[0])
    if task == "temporal" and positions != sorted(positions):
        return f"events are not in the stated order {list(events)}"
    return None


class LLMCaptionGenerator:
    """Captions written by a local text-generation model, validated, with template fallback.

    ``text_generator`` is a callable ``instruction -> answer``, or a ``transformers`` model id/path
    (loaded with ``pipeline("text-generation")``, greedy decoding). ``fallbacks`` counts the captions
    that came from the template because the model's answer failed :func:`check_caption`.
    """

    def __init__(
        self,
        text_generator: Callable[[str], str] | str,
        fallback: TemplateCaptionGenerator | None = None,
        max_new_tokens: int = 48,
    ):
        if isinstance(text_generator, str):
            text_generator = self._transformers_generator(text_generator, max_new_tokens)
        self.text_generator = text_generator
        self.fallback = fallback or TemplateCaptionGenerator()
        self.fallbacks = 0
        self.fallback_reasons: list[str] = []

    @staticmethod
    def _transformers_generator(model: str, max_new_tokens: int) -> Callable[[str], str]:
        from transformers import pipeline

        generate = pipeline("text-generation", model=model)

        def run(instruction: str) -> str:
            out = generate(
                instruction, max_new_tokens=max_new_tokens, do_sample=False, return_full_text=False
            )
            return out[0]["generated_text"]

        return run

    def caption(self, events: Sequence[str], task: str, rng: random.Random) -> Caption:
        answer = _first_line(self.text_generator(llm_instruction(events, task)))
        problem = check_caption(answer, events, task)
        if problem is None:
            lowered = f" {answer.lower()} "
            used = next((c for c in CONJUNCTIONS[task] if f" {c.split(' …')[0]} " in lowered), "")
            return Caption(_sentence(answer), used, "llm")
        self.fallbacks += 1
        self.fallback_reasons.append(f"{list(events)}: {problem}")
        caption = self.fallback.caption(events, task, rng)
        return Caption(caption.text, caption.conjunction, "template_fallback")


def sample_label_groups(
    labels: Sequence[str], group_size: int, count: int, seed: int, ordered: bool
) -> list[tuple[str, ...]]:
    """``count`` distinct groups of ``group_size`` different labels, seeded. Ordered groups (temporal)
    differ by order too; unordered ones (integrity) do not repeat as sets."""
    labels = list(dict.fromkeys(labels))
    if group_size < 2 or group_size > len(labels):
        raise ValueError(f"group_size must be between 2 and {len(labels)} labels, got {group_size}")
    combos = itertools.permutations if ordered else itertools.combinations
    possible = sum(1 for _ in itertools.islice(combos(range(len(labels)), group_size), count))
    if possible < count:
        raise ValueError(
            f"only {possible} distinct groups of {group_size} exist among {len(labels)} labels; asked for {count}"
        )
    rng = random.Random(seed)
    seen: set[tuple[str, ...] | frozenset[str]] = set()
    groups: list[tuple[str, ...]] = []
    while len(groups) < count:
        group = tuple(rng.sample(labels, group_size))
        key = group if ordered else frozenset(group)
        if key not in seen:
            seen.add(key)
            groups.append(group)
    return groups


def build_prompts(
    labels: Sequence[str],
    num_integrity: int,
    num_temporal: int,
    seed: int = 0,
    generator: TemplateCaptionGenerator | LLMCaptionGenerator | None = None,
    group_sizes: dict[str, int] | None = None,
) -> Dataset:
    """The prompt dataset of stage 1: ``prompt``, ``events`` (labels in caption order), ``task``,
    ``conjunction``, ``caption_source``. Deterministic for a seed (template generator)."""
    generator = generator or TemplateCaptionGenerator()
    sizes = {**DEFAULT_GROUP_SIZE, **(group_sizes or {})}
    rng = random.Random(seed)
    rows: dict[str, list] = {"prompt": [], "events": [], "task": [], "conjunction": [], "caption_source": []}
    for offset, (task, count) in enumerate((("integrity", num_integrity), ("temporal", num_temporal))):
        if count <= 0:
            continue
        groups = sample_label_groups(labels, sizes[task], count, seed + offset, ordered=task == "temporal")
        for events in tqdm(groups, desc=f"{task} captions", disable=count < 50):
            caption = generator.caption(events, task, rng)
            rows["prompt"].append(caption.text)
            rows["events"].append(list(events))
            rows["task"].append(task)
            rows["conjunction"].append(caption.conjunction)
            rows["caption_source"].append(caption.source)
    if isinstance(generator, LLMCaptionGenerator):
        logger.info(
            "LLM captions: %d of %d fell back to the template", generator.fallbacks, len(rows["prompt"])
        )
    return Dataset.from_dict(rows)
