"""What an export warns about: too few examples, or a category missing from validation, each with the reason
and the filter to change. Pure: the examples each filter left out are counted by the caller (a selector), and
only when there is something to warn about.

A warning names the command option to change and the field of the API and the admin form, since the same
stored text is shown by all three.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evaluation.choices import CATEGORIES

from .filters import ExportFilters

MIN_EXAMPLES = 10  # below this an export is a smoke test, not a training set

# Each filter's column, command option and API / admin field, in the order warnings name them.
FILTER_OPTIONS: dict[str, tuple[str, str]] = {
    "review_statuses": ("--status", "review_statuses"),
    "sources": ("--source", "sources"),
    "min_score": ("--min-score", "min_score"),
    "categories": ("--category", "categories"),
    "difficulties": ("--difficulty", "difficulties"),
    "languages": ("--language", "languages"),
}

# {filter name: {(value left out, category): examples}}; the value is "below N" for min_score.
LeftOut = Mapping[str, Mapping[tuple[str, str], int]]


def _hint(filters: ExportFilters, name: str, values: dict[str, int]) -> str:
    """'the sources filter leaves out 35 examples (heuristic 35): widen it with --source heuristic,human,llm'."""
    option, field = FILTER_OPTIONS[name]
    total = sum(values.values())
    shown = ", ".join(f"{value} {count}" for value, count in sorted(values.items()))
    if name == "min_score":
        change = f"lower or drop {option} (API and admin field {field})"
    else:
        wider = ",".join(sorted({*getattr(filters, name), *values}))
        change = f"widen it with {option} {wider} (API and admin field {field})"
    label = name.replace("_", " ")
    return f"the {label} filter leaves out {total} example{'s' if total != 1 else ''} ({shown}): {change}"


def _hints(filters: ExportFilters, left_out: LeftOut, category: str | None = None) -> list[str]:
    hints = []
    for name in FILTER_OPTIONS:
        values: dict[str, int] = {}
        for (value, example_category), count in left_out.get(name, {}).items():
            if count and (category is None or example_category == category):
                values[value] = values.get(value, 0) + count
        if values:
            hints.append(_hint(filters, name, values))
    return hints


def _categories_expected(filters: ExportFilters) -> tuple[str, ...]:
    return filters.categories or CATEGORIES


def _split(counts: Mapping[str, Any], split: str) -> Mapping[str, int]:
    return counts.get(split, {}).get("by_category", {})


def export_warning_needed(*, filters: ExportFilters, counts: Mapping[str, Any]) -> bool:
    """Whether `export_warnings` has anything to say (so the left-out counts are worth querying)."""
    validated = _split(counts, "val")
    return counts.get("matched", 0) < MIN_EXAMPLES or any(
        not validated.get(category) for category in _categories_expected(filters)
    )


def export_warnings(*, filters: ExportFilters, counts: Mapping[str, Any], left_out: Callable[[], LeftOut]) -> list[str]:
    """The warnings of an export from its filters and counts (`left_out()` is called at most once)."""
    if not export_warning_needed(filters=filters, counts=counts):
        return []
    excluded = left_out()
    warnings = []
    matched = counts.get("matched", 0)
    if matched < MIN_EXAMPLES:
        hints = _hints(filters, excluded)
        reason = (
            "; ".join(hints)
            if hints
            else "no filter leaves any example out: grade more answers or import examples (import_examples)"
        )
        warnings.append(
            f"Only {matched} example{'s' if matched != 1 else ''} matched ({filters.describe()}), fewer than "
            f"{MIN_EXAMPLES}: too few to fine-tune on. Why: {reason}."
        )
    trained, validated = _split(counts, "train"), _split(counts, "val")
    for category in _categories_expected(filters):
        if validated.get(category):
            continue
        hints = _hints(filters, excluded, category)
        more = f" To add some: {'; '.join(hints)}." if hints else f" Grade or import more {category} examples."
        if trained.get(category):
            warnings.append(
                f"Category {category} is left out of validation: it has a single example, which trains (a model "
                f"cannot learn a category it never sees), so nothing measures it.{more}"
            )
        else:
            warnings.append(f"Category {category} is left out of train and validation: no example matched.{more}")
    return warnings
