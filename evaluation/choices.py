"""The vocabularies of a grading request (category, difficulty, language), defined once.

The models use the TextChoices; the API schemas use the Literal aliases (plain strings, an inline enum in the
OpenAPI document); the output schema, selectors and validators use the value tuples. All three come from the
same class, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    TECHNICAL = "technical", _("Technical")
    SOFT_SKILLS = "soft_skills", _("Soft skills")


class Difficulty(models.TextChoices):
    JUNIOR = "junior", _("Junior")
    MID = "mid", _("Mid")
    SENIOR = "senior", _("Senior")


class Language(models.TextChoices):
    ES = "es", _("Spanish")
    EN = "en", _("English")


class PromptVariant(models.TextChoices):
    """Which system prompt a grader is sent: the full rubric and JSON Schema, or the short one a fine-tuned
    grader was trained with (it learned the rubric and the output shape from its training rows)."""

    FULL = "full", _("Full (rubric and schema)")
    COMPACT = "compact", _("Compact (for fine-tuned graders)")


CATEGORIES: tuple[str, ...] = tuple(Category.values)
DIFFICULTIES: tuple[str, ...] = tuple(Difficulty.values)
LANGUAGES: tuple[str, ...] = tuple(Language.values)
PROMPT_VARIANTS: tuple[str, ...] = tuple(PromptVariant.values)

# Literal[a_tuple] is Literal[each value]: pydantic validates exactly these strings.
CategoryValue = Literal[CATEGORIES]  # type: ignore[valid-type]
DifficultyValue = Literal[DIFFICULTIES]  # type: ignore[valid-type]
LanguageValue = Literal[LANGUAGES]  # type: ignore[valid-type]
PromptVariantValue = Literal[PROMPT_VARIANTS]  # type: ignore[valid-type]
