"""Model versions: register, promote (one active version per category, behind the comparison gate), retire.

The grading service routes each request's category to the active version (`selectors.model_for_category`),
so promotion and retirement change which model grades live traffic: both record who and when.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone

from evaluation.choices import PROMPT_VARIANTS, PromptVariant
from evaluation.models import ApiKey
from ready4hire.errors import Conflict, InvalidInput

from ..models import DatasetExport, FineTuneRun, Modelfile, ModelVersion
from ..selectors.comparisons import comparison_gate_for_version
from .numbering import versioned_create

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Actor = AbstractBaseUser | ApiKey | None

Status = ModelVersion.Status


class PromotionGateFailed(Conflict, code="promotion_gate_failed"):
    """The version failed the promotion gate of its latest comparison; promoting it needs `force`."""

    def __init__(self, detail: str, *, reasons: list[str], comparison_id: int) -> None:
        super().__init__(detail, field="force")
        self.reasons = reasons
        self.comparison_id = comparison_id


def model_version_register(
    *,
    name: str = "ready4hire",
    kind: str = ModelVersion.Kind.FINETUNED,
    base_model: str = "",
    run: FineTuneRun | None = None,
    dataset_export: DatasetExport | None = None,
    served_name: str = "",
    gguf_path: str = "",
    modelfile: Modelfile | None = None,
    category: str = ModelVersion.Category.ALL,
    status: str = ModelVersion.Status.DRAFT,
    origin: str = "",
    prompt_variant: str | None = None,
) -> ModelVersion:
    """Create the next version (v1, v2, …) of `name`; concurrent registrations each get their own number, and
    a number is never given twice, even after its version was deleted.

    `prompt_variant` is the system prompt it was trained with, which the router, the Modelfile and comparisons
    send it; by default its dataset export's (a fine-tune run's version: the prompt in the rows it learned)."""
    if prompt_variant is None:
        prompt_variant = dataset_export.prompt_variant if dataset_export is not None else PromptVariant.FULL
    if prompt_variant not in PROMPT_VARIANTS:
        raise InvalidInput(
            f"Unknown prompt variant {prompt_variant!r}; choose one of {', '.join(PROMPT_VARIANTS)}.",
            field="prompt_variant",
        )
    return versioned_create(
        ModelVersion,
        series={"name": name},
        kind=kind,
        base_model=base_model,
        run=run,
        dataset_export=dataset_export,
        served_name=served_name,
        gguf_path=gguf_path,
        modelfile=modelfile,
        category=category,
        status=status,
        origin=origin,
        prompt_variant=prompt_variant,
    )


def _actor_fields(actor: Actor, note: str) -> tuple[AbstractBaseUser | None, str]:
    """The user to record, and the note; a program's API key has no user, so its name goes in the note."""
    note = note.strip()
    if isinstance(actor, ApiKey):
        return None, f"[API key {actor.name}] {note}".strip()
    return actor, note


def _log(version: ModelVersion, *, actor: Actor, message: str) -> None:
    """People's promotions and retirements go to the admin log, beside the version's history."""
    if actor is None or isinstance(actor, ApiKey) or not actor.pk:
        return
    LogEntry.objects.log_actions(
        user_id=actor.pk, queryset=[version], action_flag=CHANGE, change_message=message, single_object=True
    )


def model_version_promote(
    *,
    version: ModelVersion,
    user: Actor = None,
    category: str | None = None,
    force: bool = False,
    note: str = "",
) -> ModelVersion:
    """Make `version` the active grader of `category` (default: its own), retiring the one it replaces.

    Refused (PromotionGateFailed, 409) when the version failed the promotion gate of its latest comparison,
    unless `force`: a forced promotion is recorded as such, with the note, who and when. A version never
    compared is not refused: the gate judges comparisons, and there is none to judge.
    """
    category = category or version.category
    if category not in ModelVersion.Category.values:
        raise InvalidInput(
            f"Unknown category {category!r}: use one of {', '.join(ModelVersion.Category.values)}.", field="category"
        )
    if not version.served_name:
        raise InvalidInput(
            f"{version.reference} has no served name: live grading asks the configured LLM server for a model by "
            "name, so create it there (e.g. push its Modelfile to Ollama) before promoting it.",
            field="served_name",
        )
    judged = comparison_gate_for_version(version_id=version.pk)
    failed = judged is not None and not judged[1].get("passed")
    if failed and not force:
        run, verdict = judged
        reasons = [str(reason) for reason in verdict.get("reasons", [])]
        raise PromotionGateFailed(
            f"{version.reference} failed the promotion gate of comparison #{run.pk}: {'; '.join(reasons)}. "
            "Promote it with force (and a note saying why) to override.",
            reasons=reasons,
            comparison_id=run.pk,
        )
    promoted_by, note = _actor_fields(user, note)
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status == Status.ACTIVE and locked.category == category:
            return locked
        now = timezone.now()
        # Retire the one it replaces first: the database allows one active version per category at any time.
        for previous in ModelVersion.objects.select_for_update().filter(status=Status.ACTIVE, category=category):
            previous.status, previous.retired_at = Status.RETIRED, now
            previous.save(update_fields=["status", "retired_at"])
            _log(previous, actor=user, message=f"Retired: {locked.reference} replaces it for {category}.")
        locked.status, locked.category = Status.ACTIVE, category
        locked.promoted_by, locked.promoted_at, locked.retired_at = promoted_by, now, None
        locked.promotion_forced, locked.promotion_note = failed, note
        locked.save(
            update_fields=[
                "status",
                "category",
                "promoted_by",
                "promoted_at",
                "retired_at",
                "promotion_forced",
                "promotion_note",
            ]
        )
        message = f"Promoted for {category}{' although it failed the gate (forced)' if failed else ''}."
        _log(locked, actor=user, message=f"{message} Note: {note}" if note else message)
    return locked


def model_version_retire(*, version: ModelVersion, user: Actor = None, note: str = "") -> ModelVersion:
    """Stop using a version. When it was active, its category falls back to the active `all` version, else
    to the configured default model. Retiring a retired version changes nothing."""
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status == Status.RETIRED:
            return locked
        locked.status, locked.retired_at = Status.RETIRED, timezone.now()
        locked.save(update_fields=["status", "retired_at"])
        note = note.strip()
        _log(locked, actor=user, message=f"Retired. Note: {note}" if note else "Retired.")
    return locked
