"""Version numbers (v1, v2, …) for dataset exports and model versions: one counter per (kind, name), so
concurrent requests each get their own number and a deleted row's number is never given out again (an
export's files, a model's tag, elsewhere, may still carry it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import IntegrityError, models, transaction
from django.db.models import F, Max

from ..models import VersionCounter

Row = TypeVar("Row", bound=models.Model)


def _series(fields: Mapping[str, Any]) -> str:
    return "|".join(f"{field}={value}" for field, value in sorted(fields.items()))


def version_number_next(*, model: type[models.Model], **series: Any) -> int:
    """Allocate the next version number among `model`'s rows with these field values (e.g. `name="grader"`,
    or `grader=..., category=...`); a number is never allocated twice."""
    kind = model._meta.label_lower
    counter = VersionCounter.objects.filter(kind=kind, name=_series(series))
    with transaction.atomic():
        # The UPDATE locks the counter's row until commit, so concurrent allocations queue here.
        if not counter.update(last=F("last") + 1):
            # The first allocation of this series: start after any rows made before counters existed.
            latest = model.objects.filter(**series).aggregate(latest=Max("version"))["latest"] or 0
            try:
                with transaction.atomic():
                    VersionCounter.objects.create(kind=kind, name=_series(series), last=latest + 1)
            except IntegrityError:  # another first allocation created it meanwhile: take the next one
                counter.update(last=F("last") + 1)
        return counter.values_list("last", flat=True).get()


def versioned_create(model: type[Row], *, series: Mapping[str, Any], **fields: Any) -> Row:
    """Create `model`'s row with the next version of `series` (the fields that name it, e.g. `{"name": …}`);
    if the row cannot be stored (another constraint), the number is given back with the transaction."""
    with transaction.atomic():
        version = version_number_next(model=model, **series)
        return model.objects.create(**series, version=version, **fields)
