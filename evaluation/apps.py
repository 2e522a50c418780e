"""The `evaluation` app's configuration: grading answers (API, services, LLM clients)."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class EvaluationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "evaluation"
    verbose_name = gettext_lazy("Grading")
