"""Building Ollama Modelfiles: the grading prompt, checked parameters and few-shot MESSAGE pairs sampled from a
dataset export, rendered, stored as a row and written to disk.

Building is synchronous: rendering takes milliseconds and the few-shot pairs are sampled in one streamed pass over
the export's train file. Pushing the result (`modelfile_push`) and validating it (`modelfile_validation`) are the
slow parts and run as Celery tasks (`training.tasks.modelfiles`); Ollama's own models are in `ollama_models`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evaluation.choices import PromptVariant
from evaluation.llm.prompts import build_system_prompt, prompt_version_for
from evaluation.llm.schema import LANGUAGES, PROMPT_VERSION
from ready4hire.errors import InvalidInput, NotFound
from ready4hire.paths import looks_like_path, path_confine

from ..modelfile import PARAMETER_TYPES, ModelfileError, ModelfileSpec, coerce_parameter, parse, render
from ..models import DatasetExport, JobStatus, Modelfile
from ..selectors.examples import SCORE_BUCKETS
from ..selectors.exports import dataset_export_file_path, dataset_export_get, score_bucket_index
from ..selectors.modelfiles import dataset_export_newest_finished, modelfile_get
from .modelfile_jobs import queue_push_job, queue_validate_job
from .ollama_models import ollama_server_require

MAX_FEW_SHOT = 10
DEFAULT_FEW_SHOT = 3
# Sampling for grading: nearly greedy, room for the system prompt with its schema plus a few examples, and a
# mild repeat penalty (JSON repeats keys by design, so a strong one would hurt).
DEFAULT_PARAMETERS: dict[str, Any] = {"temperature": 0.1, "num_ctx": 4096, "top_p": 0.9, "repeat_penalty": 1.1}
# Ollama's model names: [host/][namespace/]model[:tag].
MODEL_NAME = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*){0,2}(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,79})?$"
)


def default_parameters() -> dict[str, Any]:
    return {**DEFAULT_PARAMETERS, "num_predict": settings.LLM_NUM_PREDICT}


def modelfile_parameters(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults with `overrides` applied (None removes a default), each checked against Ollama's types.

    `stop` may be given several times: it is kept as a list, as Ollama's API takes it.
    """
    merged: dict[str, Any] = default_parameters()
    for name, value in (overrides or {}).items():
        if name not in PARAMETER_TYPES:
            known = ", ".join(sorted(PARAMETER_TYPES))
            raise InvalidInput(f"Unknown parameter {name!r}; known parameters: {known}.", field=f"parameters.{name}")
        if value is None:
            merged.pop(name, None)
            continue
        values = value if isinstance(value, list | tuple) else [value]
        try:
            checked = [coerce_parameter(name, item) for item in values]
        except ModelfileError as exc:
            raise InvalidInput(str(exc), field=f"parameters.{name}") from None
        if not checked:
            merged.pop(name, None)
        else:
            merged[name] = checked if name == "stop" else checked[-1]
    return {name: merged[name] for name in PARAMETER_TYPES if name in merged}


def parameter_assignments_parse(assignments: Iterable[str]) -> dict[str, Any]:
    """`name=value` lines (the command's `--parameter`, the admin form) as a parameters mapping.

    A repeated `stop` collects every value; `name=` (nothing after it) removes a default.
    """
    parsed: dict[str, Any] = {}
    for assignment in assignments:
        if not assignment.strip():
            continue
        name, sep, value = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidInput(f"Expected name=value, got {assignment.strip()!r}.", field="parameters")
        value = value.strip()
        if name == "stop" and value:
            parsed.setdefault("stop", []).append(value)
        else:
            parsed[name] = value or None
    return parsed


def _parameter_lines(parameters: Mapping[str, Any]) -> list[tuple[str, int | float | str]]:
    return [
        (name, value) for name, given in parameters.items() for value in (given if isinstance(given, list) else [given])
    ]


def local_source(value: str, *, base_dir: Path | None, what: str) -> Path | None:
    """The local file or directory a FROM/ADAPTER value names, or None when it is an Ollama model name.

    A value that looks like a path is a path, never a name: it must lie inside the allowed model folders
    (ready4hire.paths) and exist there; relative ones are taken from the Modelfile's directory.
    """
    if not looks_like_path(value):
        return None
    field = what.lower()
    path = path_confine(value, field=field, base_dir=base_dir)
    if not path.exists():
        raise InvalidInput(f"{what} {value}: no such file or directory in the allowed model folders.", field=field)
    return path


def _checked_text(value: str, what: str) -> str:
    value = value.strip()
    if not value or "\n" in value or "\r" in value:
        raise InvalidInput(f"{what} must be a single, non-empty line.", field=what.lower())
    return value


def checked_model_name(name: str) -> str:
    """The name, trimmed; InvalidInput unless Ollama accepts it as a model name."""
    name = name.strip()
    if len(name) > 200 or not MODEL_NAME.match(name):
        raise InvalidInput(
            f"{name!r} is not an Ollama model name: [namespace/]model[:tag], letters, digits, '.', '_' and '-'.",
            field="name",
        )
    return name


def render_checked(spec: ModelfileSpec) -> str:
    """Render, then parse the text back: what we store is what Ollama (and our parser) will read."""
    try:
        content = render(spec)
        if render(parse(content)) != content:
            raise ModelfileError("the rendered Modelfile does not read back the same")
    except ModelfileError as exc:
        raise InvalidInput(f"Invalid Modelfile: {exc}") from None
    return content


def _record_turns(fmt: str, record: Any) -> tuple[str, str, str] | None:
    """(system, user, assistant) of one training record in `fmt`, or None when it is not one."""
    if not isinstance(record, dict):
        return None
    if fmt == DatasetExport.Format.ALPACA:
        turns = (record.get("instruction"), record.get("input"), record.get("output"))
    elif fmt == DatasetExport.Format.SHAREGPT:
        by_speaker = {t.get("from"): t.get("value") for t in record.get("conversations") or [] if isinstance(t, dict)}
        turns = (by_speaker.get("system"), by_speaker.get("human"), by_speaker.get("gpt"))
    else:
        by_role = {m.get("role"): m.get("content") for m in record.get("messages") or [] if isinstance(m, dict)}
        turns = (by_role.get("system"), by_role.get("user"), by_role.get("assistant"))
    return turns if all(isinstance(turn, str) for turn in turns) else None  # type: ignore[return-value]


def few_shot_pairs(*, export: DatasetExport, count: int, language: str) -> list[tuple[str, str]]:
    """Up to `count` (user, assistant) pairs from the export's train file, in `language`, spread over the scores.

    One streamed pass: each score range keeps a seeded reservoir sample of `count` pairs (memory does not grow
    with the file), then the ranges give one pair each in turn, lowest first, so the examples show the whole
    scale. The export's seed makes it deterministic: the same file gives the same pairs. Only records whose
    system prompt is the current one in `language` (of the export's prompt variant) qualify: the pairs must
    match what the model is served.
    """
    if export.status != JobStatus.DONE:
        raise InvalidInput(
            f"Dataset export {export.pk} is {export.status}: it has no files yet.", field="dataset_export_id"
        )
    if export.prompt_version and export.prompt_version != PROMPT_VERSION:
        raise InvalidInput(
            f"Dataset export {export.pk} was written with prompt version {export.prompt_version}, and the current "
            f"one is {PROMPT_VERSION}: its examples would teach another prompt. Export the dataset again.",
            field="dataset_export_id",
        )
    try:
        path = dataset_export_file_path(export=export, file="train")
    except NotFound as exc:
        raise InvalidInput(str(exc), field="dataset_export_id") from None
    system_prompt = build_system_prompt(language, export.prompt_variant)
    rng = random.Random(f"few-shot:{export.seed}:{language}")
    reservoirs: list[list[tuple[str, str]]] = [[] for _ in SCORE_BUCKETS]
    seen = [0] * len(SCORE_BUCKETS)
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for line_no, line in enumerate(stream, start=1):
            digest.update(line)
            if not line.strip():
                continue
            try:
                turns = _record_turns(export.format, json.loads(line))
            except ValueError:
                turns = None
            if turns is None:
                raise InvalidInput(
                    f"{path.name} line {line_no} is not a {export.format} training record.", field="dataset_export_id"
                )
            system, user, assistant = turns
            if system != system_prompt:
                continue
            try:
                score = float(json.loads(assistant)["score"])
            except (ValueError, KeyError, TypeError):
                continue  # a label we cannot read cannot show the model what a grade looks like
            bucket = score_bucket_index(score)
            seen[bucket] += 1
            if len(reservoirs[bucket]) < count:
                reservoirs[bucket].append((user, assistant))
            else:
                slot = rng.randrange(seen[bucket])
                if slot < count:
                    reservoirs[bucket][slot] = (user, assistant)
    recorded = (export.files.get("train") or {}).get("sha256", "").removeprefix("sha256:")
    if recorded and recorded != digest.hexdigest():
        raise InvalidInput(
            f"{path.name} changed since dataset export {export.pk} wrote it (its sha256 differs).",
            field="dataset_export_id",
        )
    picked: list[tuple[str, str]] = []
    for turn in range(count):
        picked.extend(reservoir[turn] for reservoir in reservoirs if turn < len(reservoir))
    if not picked:
        raise InvalidInput(
            f"Dataset export {export.pk} has no training examples in {language!r} graded with the current prompt.",
            field="few_shot",
        )
    return picked[:count]


def modelfile_default_path(*, name: str) -> Path:
    """Where `build_modelfile` writes a Modelfile unless told otherwise: one file per server model name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return Path(settings.MEDIA_ROOT) / "modelfiles" / safe / "Modelfile"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text)
    os.replace(out.name, path)


def modelfile_record(**fields: Any) -> Modelfile:
    """Store a built Modelfile as a row: building is its whole job, so the row is done as soon as it exists."""
    now = timezone.now()
    return Modelfile.objects.create(**fields, status=JobStatus.DONE, progress=100, started_at=now, finished_at=now)


def modelfile_build(
    *,
    name: str,
    base: str,
    adapter: str = "",
    parameters: Mapping[str, Any] | None = None,
    system: str | None = None,
    template: str | None = None,
    license: str | None = None,
    language: str = "es",
    dataset_export_id: int | None = None,
    few_shot: int | None = None,
    write_to: Path | None = None,
    push: bool = False,
    validate: bool = False,
    requested_by: Any = None,
    requested_by_key: Any = None,
) -> Modelfile:
    """Build and store a Modelfile; write it to `write_to`; queue its push (then validation) when asked.

    `system` empty: the grading instructions and schema of the current prompt version in `language`; the
    compact prompt instead when the export was written with it (a model trained on it is served it).
    `few_shot` (default 3 with an export): MESSAGE pairs drawn from the export's train file; fewer when the
    export has fewer in that language (the row's `few_shot` says how many were used).
    """
    name = checked_model_name(name)
    base = _checked_text(base, "base")
    adapter = _checked_text(adapter, "adapter") if adapter.strip() else ""
    if language not in LANGUAGES:
        raise InvalidInput(f"Unknown language {language!r}; choose one of {', '.join(LANGUAGES)}.", field="language")
    checked_parameters = modelfile_parameters(parameters)
    try:
        export = dataset_export_get(export_id=dataset_export_id) if dataset_export_id is not None else None
    except NotFound as exc:
        raise InvalidInput(str(exc), field="dataset_export_id") from None
    wanted = (DEFAULT_FEW_SHOT if export else 0) if few_shot is None else few_shot
    if not 0 <= wanted <= MAX_FEW_SHOT:
        raise InvalidInput(f"few_shot must be between 0 and {MAX_FEW_SHOT}.", field="few_shot")
    if wanted and export is None:
        raise InvalidInput("Few-shot pairs come from a dataset export: give dataset_export_id.", field="few_shot")
    if push or validate:
        ollama_server_require()  # fail now, before anything is stored, rather than in a worker's log
    # A local FROM/ADAPTER path is stored absolute, so pushing later (from a worker) finds the same file.
    base_path = local_source(base, base_dir=None, what="Base")
    adapter_path = local_source(adapter, base_dir=None, what="Adapter") if adapter else None
    base = str(base_path) if base_path else base
    adapter = str(adapter_path) if adapter_path else adapter
    messages = few_shot_pairs(export=export, count=wanted, language=language) if export and wanted else []
    variant = export.prompt_variant if export is not None else PromptVariant.FULL
    spec = ModelfileSpec(
        from_=base,
        adapter=adapter or None,
        parameters=_parameter_lines(checked_parameters),
        template=template or None,
        system=system or build_system_prompt(language, variant),
        messages=[turn for user, assistant in messages for turn in (("user", user), ("assistant", assistant))],
        license=license or None,
    )
    content = render_checked(spec)
    if write_to is not None:
        _write_atomically(Path(write_to), content)
    with transaction.atomic():
        modelfile = modelfile_record(
            name=name,
            base=base,
            adapter=adapter,
            parameters=checked_parameters,
            system=system or "",
            template=template or "",
            license=license or "",
            dataset_export=export,
            few_shot=len(messages),
            language=language,
            prompt_version=prompt_version_for(variant),
            content=content,
            requested_by=requested_by,
            requested_by_key=requested_by_key,
        )
        if push:
            queue_push_job(modelfile, then_validate=validate)
        elif validate:
            queue_validate_job(modelfile)
    # Without a broker the queued job has already run (eagerly, at commit): read the row as it is now.
    return modelfile_get(modelfile_id=modelfile.pk)


def modelfile_build_from_latest_export(
    *, write_to: Path, name: str = "ready4hire-grader", base: str | None = None, few_shot: int = DEFAULT_FEW_SHOT
) -> Modelfile:
    """The demo's step: a Modelfile on the grading model with few-shot pairs from the newest finished export
    (none when there is no export yet), written to `write_to`. No Ollama server is needed."""
    export = dataset_export_newest_finished()
    return modelfile_build(
        name=name,
        base=base or settings.LLM_MODEL,
        dataset_export_id=export.pk if export else None,
        few_shot=few_shot if export else 0,
        write_to=write_to,
    )
