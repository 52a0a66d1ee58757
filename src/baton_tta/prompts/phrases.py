"""How a label is said in a caption: a reviewed phrase table, and the words that show it was said.

Rules that guess English from AudioSet display names read wrong about half the time on the real
vocabulary ("a cattle", "a walk" for *Walk, footsteps*, verbless "a fowl as a double bass sounds").
So the phrases are data: ``prompts/data/event_phrases.csv`` gives, for each of the 200 labels BATON
draws from, a subject + verb clause ("a dog whimpers"), a noun phrase ("a whimpering dog") and the
clause's verb, written and reviewed by hand. A user's own vocabulary brings its own table
(:func:`read_phrase_table`); labels with no row fall back to a derived noun phrase and "can be heard",
which is always grammatical, and are counted in the log.

The same table tells the caption checker which words mention an event (:func:`event_keywords`).
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from baton_tta.prompts.vocabulary import label_phrase, split_aliases

EVENT_PHRASES = "event_phrases.csv"
PHRASE_COLUMNS = ("display_name", "clause", "noun_phrase", "verb")

#: Words people use for the same source as a label's words ("a woman's singing" for *Female singing*).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "female": ("woman", "women", "lady", "girl"),
    "male": ("man", "men", "guy", "boy"),
    "child": ("children", "kid", "kids", "boy", "girl"),
    "kid": ("child", "children"),
    "infant": ("baby",),
    "baby": ("infant",),
    "speech": ("speak", "talk", "voice"),
    "gunshot": ("gun", "shot"),
    "automobile": ("car",),
    "vehicle": ("car", "truck"),
}
#: Words too common in captions to show that a particular event is meant.
_NOT_EVENT_WORDS = {
    "a",
    "an",
    "the",
    "of",
    "and",
    "or",
    "with",
    "in",
    "on",
    "at",
    "to",
    "by",
    "into",
    "from",
    "etc",
    "sound",
    "sounds",
    "noise",
    "noises",
    "someone",
    "something",
    "people",
    "person",
    "small",
    "large",
    "there",
    "is",
    "moment",
    "makes",
    "goes",
    "passing",
    "passes",
    "runs",
    "running",
    "inside",
    "outside",
}


@dataclass(frozen=True)
class EventPhrase:
    """How one label reads in a caption: ``clause`` ("rain falls") for slots that need a sentence,
    ``noun_phrase`` ("falling rain") for slots after "with", "followed by", …; ``verb`` is the
    clause's verb. ``reviewed`` is False for the fallback made for labels with no table row."""

    clause: str
    noun_phrase: str
    verb: str
    reviewed: bool = True


def _parse_phrase_rows(lines: list[str], source: str) -> dict[str, EventPhrase]:
    reader = csv.DictReader(lines)
    missing = [c for c in PHRASE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing} (found {reader.fieldnames})")
    table: dict[str, EventPhrase] = {}
    for line, row in enumerate(reader, start=2):
        for column in PHRASE_COLUMNS:
            if not (row[column] or "").strip():
                raise ValueError(f"{source}, line {line}, column {column!r}: empty")
        name, clause, verb = row["display_name"].strip(), row["clause"].strip(), row["verb"].strip()
        if verb not in clause.split():
            raise ValueError(f"{source}, line {line}, column 'verb': {verb!r} is not a word of {clause!r}")
        if name in table:
            raise ValueError(f"{source}, line {line}, column 'display_name': {name!r} appears twice")
        table[name] = EventPhrase(clause, row["noun_phrase"].strip(), verb)
    return table


def read_phrase_table(path: str | os.PathLike) -> dict[str, EventPhrase]:
    """A ``display_name,clause,noun_phrase,verb`` CSV; every cell filled, the verb a word of the
    clause, each label once (errors name the line and column)."""
    path = Path(path)
    return _parse_phrase_rows(path.read_text(encoding="utf-8").splitlines(), str(path))


@functools.cache
def reviewed_phrases() -> Mapping[str, EventPhrase]:
    """The shipped table: the top 200 AudioCaps labels (BATON's vocabulary)."""
    text = resources.files("baton_tta.prompts").joinpath("data", EVENT_PHRASES).read_text("utf-8")
    return _parse_phrase_rows(text.splitlines(), f"baton_tta/prompts/data/{EVENT_PHRASES}")


def phrase_for(display_name: str, table: Mapping[str, EventPhrase] | None = None) -> EventPhrase:
    """The table's phrase for a label, or the fallback ``"<noun phrase> can be heard"``."""
    table = reviewed_phrases() if table is None else table
    if display_name in table:
        return table[display_name]
    noun = label_phrase(display_name)
    return EventPhrase(f"{noun} can be heard", noun, "heard", reviewed=False)


def stem(word: str) -> str:
    """A crude English stem, enough to match "cries"/"crying"/"cry" and "rustle"/"rustling"."""
    word = word.lower().removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
        if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]  # running → run, but rolling → roll
    elif len(word) > 4 and (word.endswith("ed") or (word.endswith("es") and word[-3] in "shxz")):
        word = word[:-2]  # hissed → hiss, flushes → flush
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


WORD_PATTERN = r"[a-z]+(?:[-'][a-z]+)*"


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (letters, apostrophes and hyphens inside a word kept)."""
    return re.findall(WORD_PATTERN, text.lower())


def event_keywords(display_name: str, table: Mapping[str, EventPhrase] | None = None) -> set[str]:
    """Stems of the words that show a caption mentions this label: the words of its aliases (the
    qualifier in parentheses included), its phrase's verb and noun phrase, and their synonyms."""
    phrase = phrase_for(display_name, table)
    found = set()
    for text in [*split_aliases(display_name, keep_qualifier=True), phrase.verb, phrase.noun_phrase]:
        for word in words(text):
            for part in (word, *word.split("-")):
                if len(part) >= 3 and part not in _NOT_EVENT_WORDS:
                    found.add(part)
    for word in list(found):
        found.update(SYNONYMS.get(word, ()))
    return {stem(word) for word in found}
