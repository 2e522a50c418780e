"""Model versions: look them up, resolve a model reference to something we can grade with, and route a
grading request's category to the active version.

A model reference is one of
- a model name on the configured LLM server (`llama3.2:3b`);
- a version, `NAME:vN` (`ready4hire:v3`): its served name on the configured server, or its GGUF file, which
  a comparison serves with llama.cpp while it runs;
- `latest`: the newest fine-tuned version; `tiny-base`: the newest base version (the random-initialised
  starting point an `--init-tiny` run registers), so base and fine-tuned can be compared;
and may name another server after an `@`: `llama3.2:3b@ollama+http://10.0.0.5:11434`,
`ready4hire:v3@openai+http://127.0.0.1:8080`, so two servers can be compared side by side.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db.models import QuerySet

from evaluation.llm.clients import CLIENTS
from ready4hire.errors import InvalidInput, NotFound

from ..models import ModelVersion

LATEST = "latest"
TINY_BASE = "tiny-base"
GGUF_BACKEND = "gguf"  # served by llama.cpp's OpenAI-compatible server for the length of a comparison

_VERSION_REFERENCE = re.compile(r"^(?P<name>[-\w]+):v(?P<version>\d+)$")
_SERVER = re.compile(r"^(?P<backend>[a-z]+)\+(?P<url>https?://\S+)$")

Category = ModelVersion.Category
Status = ModelVersion.Status


@dataclass(frozen=True)
class ModelReference:
    """What a reference resolves to: the server (or GGUF file) and model name a comparison grades with."""

    ref: str
    backend: str
    base_url: str
    model: str
    version_id: int | None = None
    gguf_path: str = ""

    def contender(self, label: str) -> dict:
        """The JSON a `ComparisonRun` keeps for each model it compares."""
        return {"label": label, **asdict(self)}


def model_version_get(*, version_id: int) -> ModelVersion:
    try:
        return ModelVersion.objects.select_related("run", "dataset_export", "promoted_by").get(pk=version_id)
    except ModelVersion.DoesNotExist:
        raise NotFound(f"Model version {version_id} does not exist.", field="id") from None


def model_version_list(
    *, status: str | None = None, category: str | None = None, kind: str | None = None
) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.select_related("promoted_by")
    filters = {"status": status, "category": category, "kind": kind}
    return versions.filter(**{field: value for field, value in filters.items() if value is not None}).order_by(
        "name", "-version"
    )


def model_version_get_by_reference(*, ref: str) -> ModelVersion:
    """The version a reference names: `NAME:vN`, `latest`, `tiny-base`, or a database id."""
    ref = ref.strip()
    version = _version_for(ref)
    if version is None and ref.isdigit():
        return model_version_get(version_id=int(ref))
    if version is None:
        raise NotFound(f"{ref!r} names no model version: use NAME:vN (e.g. ready4hire:v3), latest or tiny-base.")
    return version


def _version_for(ref: str) -> ModelVersion | None:
    """The version `ref` names, None when it names none (a server model name); NotFound for a missing one."""
    if ref == LATEST:
        version = ModelVersion.objects.filter(kind=ModelVersion.Kind.FINETUNED).order_by("-created_at", "-pk").first()
        if version is None:
            raise NotFound("'latest' names the newest fine-tuned version, and there is none yet.", field="ref")
        return version
    if ref == TINY_BASE:
        version = ModelVersion.objects.filter(kind=ModelVersion.Kind.BASE).order_by("-created_at", "-pk").first()
        if version is None:
            raise NotFound(
                "'tiny-base' names the newest base version, and there is none yet: an --init-tiny fine-tune "
                "registers one.",
                field="ref",
            )
        return version
    match = _VERSION_REFERENCE.match(ref)
    # `NAME:vN` is a version only when NAME is one of ours: a server may well tag its own models `:v2`.
    if match is None or not ModelVersion.objects.filter(name=match["name"]).exists():
        return None
    version = ModelVersion.objects.filter(name=match["name"], version=int(match["version"])).first()
    if version is None:
        raise NotFound(f"There is no version {ref!r}.", field="ref")
    return version


def _server(spec: str | None, ref: str) -> tuple[str, str]:
    if spec is not None:
        match = _SERVER.match(spec)
        if match is None or match["backend"] not in CLIENTS:
            raise InvalidInput(
                f"{ref!r}: name a server as MODEL@BACKEND+URL with BACKEND one of {', '.join(sorted(CLIENTS))}, "
                "e.g. llama3.2:3b@ollama+http://127.0.0.1:11434.",
                field="ref",
            )
        return match["backend"], match["url"]
    if settings.LLM_BACKEND not in CLIENTS:
        raise InvalidInput(
            f"{ref!r}: no LLM server is configured (LLM_BACKEND={settings.LLM_BACKEND}); configure one or name "
            "it in the reference, e.g. llama3.2:3b@ollama+http://127.0.0.1:11434.",
            field="ref",
        )
    return settings.LLM_BACKEND, settings.LLM_BASE_URL


def model_reference_resolve(*, ref: str) -> ModelReference:
    """Resolve a model reference (see the module's doc) to the server and model to grade with."""
    ref = ref.strip()
    name, at, spec = ref.partition("@")
    if not name:
        raise InvalidInput("A model reference cannot be empty.", field="ref")
    version = _version_for(name)
    if version is None:
        backend, base_url = _server(spec if at else None, ref)
        return ModelReference(ref=ref, backend=backend, base_url=base_url, model=name)
    if version.served_name:
        backend, base_url = _server(spec if at else None, ref)
        return ModelReference(
            ref=ref, backend=backend, base_url=base_url, model=version.served_name, version_id=version.pk
        )
    if version.gguf_path and not at:
        return ModelReference(
            ref=ref,
            backend=GGUF_BACKEND,
            base_url="",
            model=version.reference,
            version_id=version.pk,
            gguf_path=version.gguf_path,
        )
    raise InvalidInput(
        f"{version.reference} has no served name{'' if at else ' and no GGUF file'}: there is nothing to grade with.",
        field="ref",
    )


def model_for_category(category: str) -> str | None:
    """The served name of the active version for `category`, else of the active `all` version, else None
    (the caller falls back to the configured default model)."""
    active = dict(
        ModelVersion.objects.filter(status=Status.ACTIVE, category__in=[category, Category.ALL])
        .exclude(served_name="")
        .values_list("category", "served_name")
    )
    return active.get(category) or active.get(Category.ALL)
