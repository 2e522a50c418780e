"""The collection settings: whether and what to collect, and how examples are reviewed."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class CollectionSettings(models.Model):
    """Whether and what to collect: one row in the database, so every web process and worker sees a change."""

    SINGLETON_ID = 1

    enabled = models.BooleanField(default=True, help_text=_("Collect every finished evaluation as a training example."))
    min_score_threshold = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
        help_text=_("Grades below this score are not collected."),
    )
    collect_llm = models.BooleanField(_("collect LLM grades"), default=True)
    collect_heuristic = models.BooleanField(
        "collect heuristic grades",
        default=False,
        help_text=_("Off by default: the fallback grader's grades are poor training targets."),
    )
    collect_human = models.BooleanField(_("collect human grades"), default=True)
    reviews_required = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("How many different people review each example before it is decided (1-5)."),
    )
    review_reservation_seconds = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(30), MaxValueValidator(86400)],
        help_text=_("How long the example a reviewer has open is held for them (seconds)."),
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("collection settings")
        verbose_name_plural = _("collection settings")
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="collection_settings_singleton"),
            models.CheckConstraint(
                condition=models.Q(reviews_required__gte=1) & models.Q(reviews_required__lte=5),
                name="collection_reviews_required_range",
            ),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"Collection {state}: score ≥ {self.min_score_threshold}, sources {', '.join(self.sources) or 'none'}"

    @property
    def sources(self) -> list[str]:
        flags = {"llm": self.collect_llm, "heuristic": self.collect_heuristic, "human": self.collect_human}
        return [source for source, accepted in flags.items() if accepted]
