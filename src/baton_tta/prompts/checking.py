"""Is a caption right for its label group? The check behind the LLM caption path.

An event counts as mentioned when any word of its keywords appears (by stem, so "cries" and
"crying" both mention *Baby cry*; synonyms, so "a woman's singing" mentions *Female singing*).
Order is read from what the conjunctions mean, not from where words stand: "Rain falls after a dog
barks" says the dog comes first. Each stretch of the caption between connectors gets a time step:
"then", "followed by", "before" move forward, a mid-sentence "after" moves back, a leading
"After X, Y" or "Before X, Y" orders the two clauses it joins, and "and", "with", "while", "as" and
commas keep the step (heard together).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from baton_tta.prompts.phrases import WORD_PATTERN, EventPhrase, event_keywords, phrase_for, stem, words

FORWARD = ("and then", "followed by", "then", "before", "afterwards", "next", "finally", "later")
BACKWARD = ("after",)
TOGETHER = ("while", "as", "and", "with", "accompanied by", "meanwhile", "amid", "amidst", "during", ",")
_CONNECTOR = re.compile(
    r",|\b(?:"
    + "|".join(re.escape(c) for c in sorted({*FORWARD, *BACKWARD, *TOGETHER} - {","}, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_WORD = re.compile(WORD_PATTERN, re.IGNORECASE)


def _step(connectors: list[str]) -> int:
    """Time step of a run of adjacent connectors (", and then" → +1): the first that orders wins."""
    for connector in connectors:
        if connector in FORWARD:
            return 1
        if connector in BACKWARD:
            return -1
    return 0


def stated_times(caption: str) -> list[tuple[str, int]]:
    """``(word, time step)`` for every word of ``caption``, lower-cased: words heard at the same
    step share it; a larger step is later."""
    pieces: list[tuple[list[str], int, int]] = []  # (connectors before, start, end)
    pending: list[str] = []
    cursor = 0
    for match in _CONNECTOR.finditer(caption):
        if caption[cursor : match.start()].strip():
            pieces.append((pending, cursor, match.start()))
            pending = []
        pending = [*pending, match.group(0).lower()]
        cursor = match.end()
    pieces.append((pending, cursor, len(caption)))
    times: list[tuple[str, int]] = []
    step, opening = 0, None
    for index, (connectors, start, end) in enumerate(pieces):
        if index == 0 and connectors and connectors[0] in ("after", "before"):
            opening = connectors[0]  # "After X, Y": X then Y; "Before X, Y": Y then X
        elif index == 1 and opening:
            step += 1 if opening == "after" else -1
        elif index > 0:
            step += _step(connectors)
        times.extend((word.group(0).lower(), step) for word in _WORD.finditer(caption, start, end))
    return times


def _phrase_step(said: list[str], timed: list[tuple[str, int]], phrase: EventPhrase) -> int | None:
    """Where the event's own clause or noun phrase stands, word for word, if it does: more telling
    than a keyword when two labels share one (*Dog* and *Canidae, dogs, wolves*)."""
    for text in (phrase.clause, phrase.noun_phrase):
        wanted = words(text)
        for start in range(len(said) - len(wanted) + 1):
            if said[start : start + len(wanted)] == wanted:
                return timed[start][1]
    return None


def caption_task(caption: str) -> str:
    """``"temporal"`` when the caption orders what it names (its words fall on more than one time
    step, :func:`stated_times`), else ``"integrity"`` (everything heard together)."""
    return "temporal" if len({step for _, step in stated_times(caption)}) > 1 else "integrity"


def check_caption(
    text: str, events: Sequence[str], task: str, phrases: Mapping[str, EventPhrase] | None = None
) -> str | None:
    """Why ``text`` is not a valid caption for ``events`` (None when it is): 3–40 words, every event
    mentioned, and for temporal captions the events happening in the given order (each no earlier
    than the one before, and not all at once)."""
    timed = stated_times(text)
    if not 3 <= len(timed) <= 40:
        return f"caption has {len(timed)} words"
    said = [word for word, _ in timed]
    steps = []
    for event in events:
        step = _phrase_step(said, timed, phrase_for(event, phrases))
        if step is None:
            keys = event_keywords(event, phrases)
            step = next((s for word, s in timed if stem(word) in keys), None)
        if step is None:
            return f"event {event!r} is not mentioned"
        steps.append(step)
    if task == "temporal" and (steps != sorted(steps) or len(set(steps)) == 1):
        return f"events are not in the stated order {list(events)}"
    return None
