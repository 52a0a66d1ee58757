"""Captions from label groups (BATON §3.1): 2 labels heard together (integrity) or 3 in order (temporal).

Two generators share one interface. :class:`TemplateCaptionGenerator` (default, offline) joins the
labels' reviewed phrases (:mod:`baton_tta.prompts.phrases`) with a conjunction drawn at random from
the list. :class:`LLMCaptionGenerator` sends the paper's Table 1 instruction to any local
``transformers`` text-generation model, checks the answer (:func:`check_caption`: every event
mentioned; for temporal captions, in the stated order) and falls back to the template when the
answer fails, counting fallbacks.

The paper gives one conjunction list for both tasks, and its captions use it so: 86 of the 220
2-label captions of the BATON release say "then" or "followed by". That is the default
(``conjunctions="paper"``). ``"per_task"`` keeps order words out of integrity captions and
simultaneity words out of temporal ones, for worlds whose judge reads the order strictly (the toy).
"""

from __future__ import annotations

import itertools
import logging
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from datasets import Dataset
from tqdm.auto import tqdm

from baton_tta.prompts.checking import check_caption
from baton_tta.prompts.phrases import EventPhrase, phrase_for

logger = logging.getLogger(__name__)

INTEGRITY_CONJUNCTIONS = ("and", "with", "while", "as", "accompanied by", "in the background")
TEMPORAL_CONJUNCTIONS = ("followed by", "then", "before", "after", "first … then")
#: The paper's single list, for both tasks.
PAPER_CONJUNCTIONS = INTEGRITY_CONJUNCTIONS + TEMPORAL_CONJUNCTIONS
CONJUNCTIONS = {"integrity": INTEGRITY_CONJUNCTIONS, "temporal": TEMPORAL_CONJUNCTIONS}
CONJUNCTION_STYLES = ("paper", "per_task")
DEFAULT_GROUP_SIZE = {"integrity": 2, "temporal": 3}

# How a conjunction joins the first event (always a clause) to the second, and whether the second
# slot takes a clause ("rain falls") or a noun phrase ("falling rain").
_FORMS: dict[str, tuple[str, str]] = {
    "and": ("{a} and {b}", "clause"),
    "with": ("{a}, with {b}", "noun"),
    "while": ("{a} while {b}", "clause"),
    "as": ("{a} as {b}", "clause"),
    "accompanied by": ("{a}, accompanied by {b}", "noun"),
    "in the background": ("{a} with {b} in the background", "noun"),
    "followed by": ("{a}, followed by {b}", "noun"),
    "then": ("{a}, then {b}", "clause"),
    "before": ("{a} before {b}", "clause"),
    "after": ("after {a}, {b}", "clause"),  # "After a dog barks, rain falls": the dog first
    "first … then": ("first {a}, then {b}", "clause"),
}


def conjunction_lists(style: str) -> dict[str, tuple[str, ...]]:
    """The conjunctions each task draws from: ``"paper"`` (one list) or ``"per_task"``."""
    if style == "paper":
        return {"integrity": PAPER_CONJUNCTIONS, "temporal": PAPER_CONJUNCTIONS}
    if style == "per_task":
        return dict(CONJUNCTIONS)
    raise ValueError(f"conjunctions must be one of {CONJUNCTION_STYLES}, got {style!r}")


@dataclass(frozen=True)
class Caption:
    text: str
    conjunction: str
    source: str  # "template", "llm" or "template_fallback"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def join_events(phrases: Sequence[EventPhrase], conjunction: str, task: str) -> str:
    """One caption from the events' phrases, in event order. The conjunction joins the first two;
    further events are listed with it when they are heard together (integrity with a conjunction of
    simultaneity) and follow with ", and then" otherwise ("…, and finally" after "first … then")."""
    form, slot = _FORMS[conjunction]
    first, second, rest = phrases[0], phrases[1], phrases[2:]

    def say(phrase: EventPhrase) -> str:
        return phrase.clause if slot == "clause" else phrase.noun_phrase

    ordered = conjunction in TEMPORAL_CONJUNCTIONS or task == "temporal"
    if not ordered and rest:
        seconds = [say(p) for p in (second, *rest)]
        second_text = ", ".join(seconds[:-1]) + f" and {seconds[-1]}"
    else:
        second_text = say(second)
    text = form.format(a=first.clause, b=second_text)
    if ordered:
        last = ", and finally " if conjunction == "first … then" else ", and then "
        text += "".join(f"{last}{p.clause}" for p in rest)
    return _sentence(text)


class TemplateCaptionGenerator:
    """Offline captions: reviewed label phrases joined by a random conjunction of the list, so no
    single conjunction dominates (as the paper's instruction asks).

    ``conjunctions``: ``"paper"`` (default) or ``"per_task"`` (see the module docstring).
    ``phrases``: a phrase table (:func:`~baton_tta.prompts.phrases.read_phrase_table`); default the
    shipped one. Labels it lacks read "<noun phrase> can be heard"; ``unreviewed`` collects them."""

    def __init__(self, conjunctions: str = "paper", phrases: Mapping[str, EventPhrase] | None = None):
        self.conjunctions = conjunction_lists(conjunctions)
        self.phrases = phrases
        self.unreviewed: set[str] = set()

    def phrase(self, event: str) -> EventPhrase:
        phrase = phrase_for(event, self.phrases)
        if not phrase.reviewed:
            self.unreviewed.add(event)
        return phrase

    def caption(self, events: Sequence[str], task: str, rng: random.Random) -> Caption:
        if task not in self.conjunctions:
            raise ValueError(f"task must be one of {sorted(self.conjunctions)}, got {task!r}")
        if len(events) < 2:
            raise ValueError(f"a caption needs at least 2 events, got {list(events)}")
        conjunction = rng.choice(self.conjunctions[task])
        text = join_events([self.phrase(event) for event in events], conjunction, task)
        return Caption(text, conjunction, "template")


def llm_instruction(
    events: Sequence[str], task: str, conjunctions: Sequence[str] = PAPER_CONJUNCTIONS
) -> str:
    """The paper's Table 1 instruction (integrity), and its temporal counterpart, filled in."""
    numbered = ", ".join(f"Event_{i + 1}" for i in range(len(events)))
    joined = ", Conjunction, ".join(f"Event_{i + 1}" for i in range(len(events)))
    labels = ", ".join(f'"{event}"' for event in events)
    listed = ", ".join(f'"{c}"' for c in conjunctions)
    order = (
        " Keep the events in the given order: the caption must describe them happening one after another in that order."
        if task == "temporal"
        else " The events happen together."
    )
    return (
        f"Given a label group, [{labels}], the {len(events)} labels in it will be described into an audio event "
        f"group: {{{numbered}}}. Then, please join the audio event group with conjunction to form an audio caption, "
        f'defined as "{joined}".{order}\n'
        f"Conjunction list: [{listed}]\n"
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
        listed = self.fallback.conjunctions[task]
        answer = _first_line(self.text_generator(llm_instruction(events, task, listed)))
        problem = check_caption(answer, events, task, self.fallback.phrases)
        if problem is None:
            lowered = f" {answer.lower()} "
            longest_first = sorted(listed, key=len, reverse=True)
            used = next((c for c in longest_first if f" {c.split(' …')[0]} " in lowered), "")
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
    template = generator.fallback if isinstance(generator, LLMCaptionGenerator) else generator
    if template.unreviewed:
        logger.warning(
            "%d label(s) have no reviewed phrase and read '<noun> can be heard': %s",
            len(template.unreviewed),
            sorted(template.unreviewed)[:10],
        )
    return Dataset.from_dict(rows)
