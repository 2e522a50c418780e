"""What `manage.py demo` shows of curation: collection during the demo and the statistics afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .selectors import collection_settings_get, training_stats
from .services import collection_settings_update


@contextmanager
def heuristic_collection(*, enabled: bool) -> Iterator[bool]:
    """Also collect heuristic grades while the block runs, then restore the settings.

    Without an LLM every demo grade comes from the heuristic, which the defaults do not collect; the demo
    would show an empty curation set. Yields whether it changed anything.
    """
    sources = collection_settings_get().sources
    if not enabled or "heuristic" in sources:
        yield False
        return
    collection_settings_update(sources=[*sources, "heuristic"])
    try:
        yield True
    finally:
        collection_settings_update(sources=sources)


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{name} {count}" for name, count in counts.items()) or "—"


def stats_lines() -> list[str]:
    """The collection statistics as a few lines of plain text, with a text histogram of the scores."""
    stats = training_stats()
    settings = collection_settings_get()
    status = stats["by_review_status"]
    lines = [
        f"{stats['total_examples']} training examples: {status['pending']} pending review, "
        f"{status['approved']} approved, {status['rejected']} rejected ({stats['reviewed_share']:.0%} reviewed)",
        f"collection {'on' if settings.enabled else 'off'}: score ≥ {settings.min_score_threshold:g} from "
        f"{', '.join(settings.sources) or 'no source'}",
        f"by source:      {_counts(stats['by_source'])}",
        f"by category:    {_counts(stats['by_category'])}",
        f"by difficulty:  {_counts(stats['by_difficulty'])}",
        "scores:",
    ]
    largest = max(stats["score_distribution"].values(), default=0) or 1
    for bucket, count in stats["score_distribution"].items():
        lines.append(f"  {bucket:>5}  {'█' * round(30 * count / largest):<30} {count}")
    return lines
