"""Figures for cards and reports through matplotlib's object API: no global figure state, and the caller's
backend is never switched (library code used to switch it to Agg, changing the backend of whoever
imported it, a notebook included)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def subplots(
    nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None, **kwargs: Any
) -> tuple[Figure, Any]:
    """A standalone :class:`~matplotlib.figure.Figure` and its axes (``Figure.subplots``'s arguments);
    ``figure.savefig`` writes it without any GUI backend."""
    figure = Figure(figsize=figsize)
    return figure, figure.subplots(nrows, ncols, **kwargs)
