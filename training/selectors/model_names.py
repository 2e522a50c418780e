"""Which model a grading request may name in `model`: names, never paths or arbitrary strings.

A request may ask for the default model (LLM_MODEL), one listed in LLM_ALLOWED_MODELS, or a registered model
version, by its served name or its reference NAME:vN. Anything else is refused, so a caller cannot make the
server grade with (and store, and collect grades of) a model nobody registered.
"""

from __future__ import annotations

import re

from django.conf import settings

from ready4hire.errors import InvalidInput

from ..models import ModelVersion

_VERSION_REFERENCE = re.compile(r"^(?P<name>[-\w]+):v(?P<version>\d+)$")


def requested_model_resolve(*, model: str) -> str:
    """The name to send to the LLM server for a request's `model`; InvalidInput (field `model`) when the
    model is not one the project knows."""
    if model == settings.LLM_MODEL or model in settings.LLM_ALLOWED_MODELS:
        return model
    if ModelVersion.objects.filter(served_name=model).exists():
        return model
    match = _VERSION_REFERENCE.match(model)
    if match is not None:
        version = ModelVersion.objects.filter(name=match["name"], version=int(match["version"])).first()
        if version is not None and version.served_name:
            return version.served_name
        if version is not None:
            raise InvalidInput(
                f"The model version {model} has no served name yet, so no LLM server grades with it: push it first.",
                field="model",
            )
    raise InvalidInput(
        f"Unknown model {model[:100]!r}: name the default model ({settings.LLM_MODEL}), a registered model "
        "version (its served name or NAME:vN) or a model listed in LLM_ALLOWED_MODELS.",
        field="model",
    )
