"""The plan of an export: which examples train and which validate, decided on (id, category, score) alone.

Memory: the selected examples are held as compact per-stratum arrays of ids (8 bytes an example), so a plan
of a million examples stays small. Nothing here touches the database.

The split rule (documented for users in the export form and the command's help):
- the validation size is round-half-up(N × (1 − train_share)), at least 1, and at least 2 when two or more
  categories have two or more examples, so that validation can hold more than one category;
- it is shared out between categories in proportion to their size (largest remainder), never taking a
  category's last example: a category with a single example always trains, since a model cannot learn
  from a category it never sees. Every category with two or more examples then gets at least one
  validation example, taken from the category with the most;
- inside a category the same proportional rule shares its validation examples among the score buckets
  (0-3, 3-5, 5-7, 7-9, 9-10), and seeded selection sampling picks which examples.
So 6 + 3 examples at 0.8 give validation 1 + 1; 10 + 1 give validation 2 + 0 (the single example trains).
Balancing (optional, before the split) down-samples every category to the size of the smallest.
Every random choice comes from a generator seeded by (seed, purpose, category, bucket): the same rows,
filters and seed give the same plan, hence byte-identical files.
"""

from __future__ import annotations

import heapq
import math
import random
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from ready4hire.errors import InvalidInput

from ..selectors.examples import SCORE_BUCKETS
from ..selectors.exports import score_bucket_index


def _apportion(total: int, sizes: list[int], caps: list[int]) -> list[int]:
    """Share `total` out in proportion to `sizes` (largest remainder, ties to the earlier key), each at
    most its cap. Integer arithmetic, so the result never depends on floating-point rounding."""
    whole = sum(sizes)
    total = min(total, sum(caps))
    if total <= 0 or whole == 0:
        return [0] * len(sizes)
    shares = [min(total * size // whole, cap) for size, cap in zip(sizes, caps, strict=True)]
    remainders = [total * size % whole for size in sizes]
    order = sorted(range(len(sizes)), key=lambda index: (-remainders[index], index))
    left = total - sum(shares)
    while left > 0:
        for index in order:
            if left and shares[index] < caps[index]:
                shares[index] += 1
                left -= 1
    return shares


def _select(ids: array, count: int, rng: random.Random) -> tuple[array, array]:
    """Pick exactly `count` of `ids` uniformly (Knuth's selection sampling): (picked, others), both in the
    order of `ids`. One pass, no index list: memory stays at the two output arrays."""
    picked, others = array("q"), array("q")
    needed, remaining = count, len(ids)
    for pk in ids:
        if needed and rng.random() * remaining < needed:
            picked.append(pk)
            needed -= 1
        else:
            others.append(pk)
        remaining -= 1
    return picked, others


def _rng(seed: int, *parts: object) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so it does not depend on PYTHONHASHSEED.
    return random.Random(":".join(str(part) for part in (seed, *parts)))


@dataclass
class ExportPlan:
    """Which examples go to train and to validation (sorted ids), and how many the filters matched."""

    matched: int
    train_ids: array
    val_ids: array

    @property
    def kept(self) -> int:
        return len(self.train_ids) + len(self.val_ids)


def _strata(rows: Iterable[tuple[int, str, float]]) -> tuple[dict[str, list[array]], int]:
    strata: dict[str, list[array]] = {}
    matched = 0
    for pk, category, score in rows:
        buckets = strata.get(category)
        if buckets is None:
            buckets = strata[category] = [array("q") for _ in SCORE_BUCKETS]
        buckets[score_bucket_index(score)].append(pk)
        matched += 1
    return strata, matched


def _balance(strata: dict[str, list[array]], seed: int) -> None:
    """Down-sample every category to the size of the smallest, keeping each one's score distribution."""
    smallest = min(sum(len(bucket) for bucket in buckets) for buckets in strata.values())
    for category, buckets in sorted(strata.items()):
        sizes = [len(bucket) for bucket in buckets]
        for index, keep in enumerate(_apportion(smallest, sizes, sizes)):
            buckets[index], _ = _select(buckets[index], keep, _rng(seed, "balance", category, index))


def _validation_size(total: int, category_sizes: list[int], train_share: float) -> int:
    val_share = 1 - Fraction(repr(train_share))  # exact decimal: 0.9 is 9/10, not 0.900000000000000022
    size = max(math.floor(total * val_share + Fraction(1, 2)), 1)
    if sum(1 for count in category_sizes if count >= 2) >= 2:
        size = max(size, 2)
    return min(size, sum(count - 1 for count in category_sizes))


def export_plan(
    *, rows: Iterable[tuple[int, str, float]], train_share: float, seed: int, balance_categories: bool
) -> ExportPlan:
    """Balance (optionally) and split `rows` of (id, category, score) as the module docstring describes."""
    strata, matched = _strata(rows)
    if not strata:
        raise InvalidInput("No examples to export.", field="filters")
    if balance_categories:
        _balance(strata, seed)
    categories = sorted(strata)
    sizes = [sum(len(bucket) for bucket in strata[category]) for category in categories]
    total = sum(sizes)
    val_size = _validation_size(total, sizes, train_share)
    if val_size < 1:
        raise InvalidInput(
            f"Too few examples to split: {total} example(s), each category with a single one. A validation "
            "set needs a category with at least two examples, so that training still sees every category.",
            field="train_share",
        )
    per_category = _apportion(val_size, sizes, [size - 1 for size in sizes])
    for index in range(len(categories)):
        if sizes[index] >= 2 and per_category[index] == 0:
            donor = max(range(len(categories)), key=lambda other: (per_category[other], -other))
            if per_category[donor] > 1:
                per_category[donor] -= 1
                per_category[index] += 1

    train_parts: list[array] = []
    val_parts: list[array] = []
    for category, val_count in zip(categories, per_category, strict=True):
        buckets = strata.pop(category)
        bucket_sizes = [len(bucket) for bucket in buckets]
        for index, take in enumerate(_apportion(val_count, bucket_sizes, bucket_sizes)):
            picked, others = _select(buckets[index], take, _rng(seed, "split", category, index))
            val_parts.append(picked)
            train_parts.append(others)
            buckets[index] = array("q")  # drop the stratum's copy as soon as it is split
    return ExportPlan(
        matched=matched,
        train_ids=array("q", heapq.merge(*train_parts)),
        val_ids=array("q", heapq.merge(*val_parts)),
    )
