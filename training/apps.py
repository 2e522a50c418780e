"""The `training` app's configuration: collected examples, review, exports, fine-tuning and model versions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"
    verbose_name = gettext_lazy("Training data and models")
