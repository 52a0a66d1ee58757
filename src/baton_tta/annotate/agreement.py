"""From several people's votes to one label per clip, and how much the people agreed.

Tie rule (documented in the README): a clip's label is the majority of its *non-skip* votes; when
aligned and not-aligned votes are equal — or every vote is a skip — the clip gets -1 ("no usable
label"), so a clip people disagree on is left out of training rather than guessed. Skips are not
votes for either side.

Agreement is measured on non-skip votes only: percent agreement (the mean, over clips with two or
more votes, of the share of agreeing rater pairs), Cohen's kappa when exactly two annotators took
part (over the clips both labelled), and Fleiss' kappa in its form for a varying number of raters
per clip (Fleiss 1971, with per-clip agreement P_i = Σ_j n_ij(n_ij − 1) / (n_i(n_i − 1))).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CATEGORIES = (1, 0)


def majority_label(votes: Sequence[int]) -> int:
    """1 or 0 by majority of the non-skip votes; -1 on a tie or when there are none."""
    aligned = sum(1 for v in votes if v == 1)
    not_aligned = sum(1 for v in votes if v == 0)
    if aligned == not_aligned:
        return -1
    return 1 if aligned > not_aligned else 0


def percent_agreement(votes_per_clip: Iterable[Sequence[int]]) -> float | None:
    """Mean share of agreeing rater pairs over clips with ≥ 2 non-skip votes (None if no such clip)."""
    shares = [_pair_agreement(votes) for votes in votes_per_clip if len(_binary(votes)) >= 2]
    return sum(shares) / len(shares) if shares else None


def _binary(votes: Sequence[int]) -> list[int]:
    return [v for v in votes if v in CATEGORIES]


def _pair_agreement(votes: Sequence[int]) -> float:
    counts = Counter(_binary(votes))
    n = sum(counts.values())
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def cohen_kappa(first: Sequence[int], second: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters' paired labels (skips dropped pairwise); None without pairs, and
    1.0 when both always gave the same single label (no disagreement possible to correct for)."""
    pairs = [(a, b) for a, b in zip(first, second, strict=True) if a in CATEGORIES and b in CATEGORIES]
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    expected = sum(
        (sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in CATEGORIES
    )
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(votes_per_clip: Iterable[Sequence[int]]) -> float | None:
    """Fleiss' kappa over clips with ≥ 2 non-skip votes (raters per clip may vary); None if none."""
    clips = [_binary(votes) for votes in votes_per_clip]
    clips = [votes for votes in clips if len(votes) >= 2]
    if not clips:
        return None
    p_bar = sum(_pair_agreement(votes) for votes in clips) / len(clips)
    total = sum(len(votes) for votes in clips)
    shares = [sum(votes.count(c) for votes in clips) / total for c in CATEGORIES]
    p_expected = sum(share**2 for share in shares)
    if p_expected == 1.0:
        return 1.0
    return (p_bar - p_expected) / (1.0 - p_expected)


@dataclass
class AgreementReport:
    """What the export writes next to the dataset (``agreement.json``) and prints."""

    clips: int
    labelled_clips: int
    votes: int
    skips: int
    annotators: list[str]
    percent_agreement: float | None
    cohen_kappa: float | None
    fleiss_kappa: float | None
    label_balance: dict[str, dict[str, int]]

    def markdown(self) -> str:
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        lines = [
            f"- clips: {self.clips} ({self.labelled_clips} with at least one vote), votes: {self.votes} "
            f"({self.skips} skips), annotators: {len(self.annotators)}",
            f"- percent agreement: {fmt(self.percent_agreement)}; Cohen's kappa: {fmt(self.cohen_kappa)}; "
            f"Fleiss' kappa: {fmt(self.fleiss_kappa)}",
            "",
            "| task | aligned | not aligned | no usable label |",
            "|---|---:|---:|---:|",
        ]
        for task, counts in sorted(self.label_balance.items()):
            lines.append(f"| {task} | {counts['aligned']} | {counts['not_aligned']} | {counts['none']} |")
        return "\n".join(lines)


def agreement_report(
    clip_ids: Sequence[str], tasks: Sequence[str], votes: Iterable[tuple[str, str, int]]
) -> AgreementReport:
    """Report over ``votes`` = (clip_id, annotator, label) for the clips listed (others are ignored)."""
    by_clip: dict[str, dict[str, int]] = defaultdict(dict)
    known = set(clip_ids)
    for clip_id, annotator, label in votes:
        if clip_id in known:
            by_clip[clip_id][annotator] = label
    annotators = sorted({a for clip in by_clip.values() for a in clip})
    votes_per_clip = [list(by_clip[c].values()) for c in clip_ids if c in by_clip]
    cohen = None
    if len(annotators) == 2:
        both = [by_clip[c] for c in clip_ids if c in by_clip and len(by_clip[c]) == 2]
        cohen = cohen_kappa([v[annotators[0]] for v in both], [v[annotators[1]] for v in both])
    balance: dict[str, dict[str, int]] = defaultdict(lambda: {"aligned": 0, "not_aligned": 0, "none": 0})
    for clip_id, task in zip(clip_ids, tasks, strict=True):
        label = majority_label(list(by_clip.get(clip_id, {}).values()))
        balance[task][{1: "aligned", 0: "not_aligned", -1: "none"}[label]] += 1
    all_votes = [v for clip in votes_per_clip for v in clip]
    return AgreementReport(
        clips=len(clip_ids),
        labelled_clips=len(votes_per_clip),
        votes=len(all_votes),
        skips=sum(1 for v in all_votes if v == -1),
        annotators=annotators,
        percent_agreement=percent_agreement(votes_per_clip),
        cohen_kappa=cohen,
        fleiss_kappa=fleiss_kappa(votes_per_clip),
        label_balance=dict(balance),
    )
