"""Label vocabularies (BATON's meta labels), and the noun phrase derived from a display name for labels
that the reviewed phrase table (:mod:`baton_tta.prompts.phrases`) does not cover.

BATON draws label groups from the 200 AudioSet classes most frequent in AudioCaps. Vocabularies are
read from AudioSet's ``index,mid,display_name`` CSV or a plain list (one label per line), optionally
ranked by a frequency file (``label,count`` CSV or ``label<TAB>count``) and cut to the top k.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from importlib import resources
from pathlib import Path

logger = logging.getLogger(__name__)
AUDIOCAPS_COUNTS = "audiocaps_label_counts.csv"

#: Mass nouns and uncountable sounds that read naturally without an article ("rain", "music").
MASS_WORDS = {
    "applause",
    "breathing",
    "chatter",
    "clapping",
    "crowd",
    "fire",
    "gunfire",
    "hail",
    "hubbub",
    "laughter",
    "music",
    "noise",
    "rain",
    "rumble",
    "silence",
    "singing",
    "snoring",
    "speech",
    "static",
    "steam",
    "stream",
    "surf",
    "thunder",
    "traffic",
    "water",
    "wind",
    "writing",
    "whispering",
    "hiss",
    "white",
    "pink",
    "wood",
}
TAXONOMIC_SUFFIXES = ("idae", "inae", "formes")


def split_aliases(display_name: str, keep_qualifier: bool = False) -> list[str]:
    """ "Baby cry, infant cry" → ["Baby cry", "infant cry"]. A qualifier in parentheses ("Whimper
    (dog)") is dropped, or kept as one more alias ("dog") with ``keep_qualifier``."""
    qualifiers = re.findall(r"\(([^)]*)\)", display_name) if keep_qualifier else []
    name = re.sub(r"\([^)]*\)", "", display_name)
    return [alias.strip() for alias in [*name.split(","), *qualifiers] if alias.strip()]


def label_phrase(display_name: str) -> str:
    """Turn an AudioSet display name into a noun phrase for a caption.

    Picks the most speakable alias (a phrase ending in "-ing" such as "man speaking" when there is
    one, never a taxonomic name such as "Canidae"), lower-cases it and adds "a"/"an" unless it is
    plural, a mass noun or a gerund: "Male speech, man speaking" → "a man speaking",
    "Canidae, dogs, wolves" → "dogs", "Rain" → "rain", "Owl" → "an owl".
    """
    aliases = split_aliases(display_name) or [display_name.strip()]
    usable = [a for a in aliases if not a.lower().endswith(TAXONOMIC_SUFFIXES)] or aliases
    gerunds = [a for a in usable if " " in a and a.lower().split()[-1].endswith("ing")]
    chosen = (gerunds or usable)[0]
    phrase = chosen if chosen.isupper() and len(chosen) > 1 else chosen.lower()
    first = phrase.split()[0].lower()
    last = phrase.split()[-1].lower()
    needs_article = not (
        first in MASS_WORDS
        or last in MASS_WORDS
        or (last.endswith("s") and not last.endswith(("ss", "us", "is")))
        or (" " not in phrase and last.endswith("ing"))
    )
    if needs_article:
        article = "an" if phrase[0].lower() in "aeiou" else "a"
        phrase = f"{article} {phrase}"
    return phrase


def read_labels(path: str | os.PathLike) -> list[str]:
    """Display names from AudioSet's ``index,mid,display_name`` CSV or a plain one-per-line list."""
    path = Path(path)
    text = path.read_text(encoding="utf-8").splitlines()
    if not text:
        raise ValueError(f"{path}: empty label file")
    header = [cell.strip().strip('"').lower() for cell in text[0].split(",")]
    if "display_name" not in header and (path.suffix.lower() == ".csv" or {"index", "mid"} & set(header)):
        raise ValueError(
            f"{path}: a labels CSV needs a 'display_name' column (header: {text[0]!r}); "
            "give AudioSet's index,mid,display_name file, or a .txt list with one label per line"
        )
    if "display_name" in header:
        rows = list(csv.DictReader(text))
        labels = [row["display_name"].strip() for row in rows]
        empty = [i + 2 for i, label in enumerate(labels) if not label]
        if empty:
            raise ValueError(f"{path}: empty display_name on line(s) {empty}")
        return labels
    return [line.strip() for line in text if line.strip() and not line.startswith("#")]


def read_frequencies(path: str | os.PathLike) -> dict[str, float]:
    """``label,count`` CSV (header optional) or tab-separated ``label<TAB>count`` lines."""
    path = Path(path)
    counts = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        label, _, count = line.rpartition("\t") if "\t" in line else line.rpartition(",")
        label = label.strip().strip('"')
        try:
            counts[label] = float(count)
        except ValueError:
            if number == 1:
                continue  # header
            raise ValueError(f"{path}, line {number}: count {count!r} is not a number") from None
    return counts


def audiocaps_label_counts() -> dict[str, int]:
    """How many AudioCaps v1 clips carry each AudioSet class (display name → count over all splits),
    shipped with the package (``prompts/data/``, with its provenance). Classes AudioCaps never uses
    count 0."""
    text = resources.files("baton_tta.prompts").joinpath("data", AUDIOCAPS_COUNTS).read_text("utf-8")
    return {row["display_name"]: int(row["count_all"]) for row in csv.DictReader(text.splitlines())}


def load_vocabulary(
    labels_file: str | os.PathLike, frequency_file: str | os.PathLike | None = None, top_k: int | None = None
) -> list[str]:
    """The meta-label vocabulary: labels (deduplicated, file order), ranked by frequency, cut to
    ``top_k`` (BATON: 200).

    Frequencies come from ``frequency_file`` or, when ``top_k`` is given without one, from the shipped
    AudioCaps clip counts (:func:`audiocaps_label_counts`) — the paper's "top 200 by occurrence in
    AudioCaps". Ranking is by count, ties in file order (AudioSet's class index): at rank 200 *Dial
    tone* (index 393) and *Gush* (451) both have 18 clips, and *Dial tone* is kept. Labels that never
    occur are left out and counted in the log."""
    labels = list(dict.fromkeys(read_labels(labels_file)))
    counts: dict[str, float] | None = None
    if frequency_file is not None:
        counts = read_frequencies(frequency_file)
        unknown = sorted(set(counts) - set(labels))
        if unknown:
            raise ValueError(f"{frequency_file}: labels not in {labels_file}: {unknown[:10]}")
    elif top_k is not None:
        shipped = audiocaps_label_counts()
        unknown = [label for label in labels if label not in shipped]
        if unknown:
            raise ValueError(
                f"{labels_file}: {len(unknown)} label(s) are not AudioSet display names, so they have no "
                f"AudioCaps count ({unknown[:5]}); give --frequency_file"
            )
        counts = {label: shipped[label] for label in labels if shipped[label] > 0}
        logger.info(
            "ranking by AudioCaps clip counts; %d label(s) never occur there", len(labels) - len(counts)
        )
    if counts is not None:
        order = {label: position for position, label in enumerate(labels)}
        labels = sorted(
            (label for label in labels if label in counts), key=lambda label: (-counts[label], order[label])
        )
    if top_k is not None:
        if top_k < 2:
            raise ValueError(f"top_k must be at least 2, got {top_k}")
        labels = labels[:top_k]
    return labels
