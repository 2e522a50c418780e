"""The statistics page of the TrainingExample admin: counts, the score histogram, human reviews apart from
automatic approvals, and how far reviewers agree with each other and with the machine."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _

from ..models import CollectionSettings, TrainingExample
from ..selectors import collection_settings_get, training_stats
from ..selectors.agreement import agreement_report
from ..selectors.calibration import agreement_monitor


def _share(count: int, total: int) -> float:
    return round(100 * count / total, 1) if total else 0


class StatisticsMixin:
    """Adds `statistics/` to the TrainingExample admin."""

    def statistics_urls(self) -> list:
        return [
            path(
                "statistics/",
                self.admin_site.admin_view(self.statistics_view),  # type: ignore[attr-defined]
                name="training_trainingexample_statistics",
            )
        ]

    def statistics_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        stats = training_stats()
        total = stats["total_examples"]
        largest = max(stats["score_distribution"].values(), default=0)
        histogram = [
            {
                "range": name,
                "count": count,
                "width": round(100 * count / largest) if largest else 0,
                "share": _share(count, total),
            }
            for name, count in stats["score_distribution"].items()
        ]
        labels = {
            "by_review_status": dict(TrainingExample.ReviewStatus.choices),
            "by_source": dict(TrainingExample.Source.choices),
            "by_category": dict(TrainingExample._meta.get_field("category").choices),
            "by_difficulty": dict(TrainingExample._meta.get_field("difficulty").choices),
        }
        tables = [
            (
                title,
                [
                    (labels.get(key, {}).get(value, value), count, _share(count, total))
                    for value, count in stats[key].items()
                ],
            )
            for title, key in (
                (_("Review status"), "by_review_status"),
                (_("Source"), "by_source"),
                (_("Category"), "by_category"),
                (_("Difficulty"), "by_difficulty"),
                (_("Role"), "by_role"),
            )
        ]
        settings_admin = self.admin_site._registry.get(CollectionSettings)  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "opts": TrainingExample._meta,
            "title": _("Training examples: statistics"),
            "stats": stats,
            "reviewed_percent": round(100 * stats["reviewed_share"], 1),
            "histogram": histogram,
            "tables": tables,
            "agreement": agreement_report(),
            "agreement_monitor": agreement_monitor(),
            "agreement_monitor_last": settings.AGREEMENT_MONITOR_LAST_REVIEWS,
            "collection": collection_settings_get(),
            "can_change_collection": bool(settings_admin and settings_admin.has_change_permission(request)),
        }
        return TemplateResponse(request, "admin/training/trainingexample/statistics.html", context)
