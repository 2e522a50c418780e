"""Version counters: the last number given to each series of rows (a kind, and e.g. a name), so a number is
never handed out twice, even after the row that had it (an export, a model version) is deleted."""

from __future__ import annotations

from django.db import models


class VersionCounter(models.Model):
    """The last version number allocated to one series of rows of `kind` (a model label, e.g.
    'training.datasetexport'); `name` spells the series' field values, e.g. 'name=grader'."""

    kind = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="version_counter_unique")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: v{self.last}"
