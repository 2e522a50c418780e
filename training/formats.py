"""Training-data formats. Every format carries the live grading prompt of the current prompt version, so a
model is trained on exactly the text it will be served. Pure: no ORM.

Each record's system prompt is the one of the export's prompt variant: the full rubric and schema, or the
compact prompt a fine-tuned grader is then served (`evaluation.llm.prompts`).

`preference` is TRL's conversational preference shape (`prompt` / `chosen` / `rejected`): a reviewer's
correction is a pair, the human's grade chosen over the machine's original one, for DPO.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from evaluation.choices import PromptVariant
from evaluation.llm.prompts import build_system_prompt, build_user_prompt, prompt_variant_checked
from evaluation.llm.schema import GradeResult, GradingRequest, grade_dump_json, is_grade_dump

FORMATS = ("alpaca", "sharegpt", "messages", "preference")
PREFERENCE = "preference"


def label_json(label: dict[str, Any]) -> str:
    """The label as the model should write it: compact JSON, fields in schema order, validated."""
    if is_grade_dump(label):  # a stored grade: already its own dump, so no model round trip
        return grade_dump_json(label, compact=True)
    grade = GradeResult.model_validate(label)
    return json.dumps(grade.model_dump(), ensure_ascii=False, separators=(",", ":"))


def _alpaca(system: str, user: str, output: str) -> dict[str, Any]:
    return {"instruction": system, "input": user, "output": output}


def _sharegpt(system: str, user: str, output: str) -> dict[str, Any]:
    return {
        "conversations": [
            {"from": "system", "value": system},
            {"from": "human", "value": user},
            {"from": "gpt", "value": output},
        ]
    }


def _messages(system: str, user: str, output: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": output},
        ]
    }


_BUILDERS: dict[str, Callable[[str, str, str], dict[str, Any]]] = {
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "messages": _messages,
}


def _preference(system: str, user: str, chosen: str, rejected: str) -> dict[str, Any]:
    return {
        "prompt": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


# The records above as UTF-8 JSON lines, for exports: the same bytes as
# json.dumps(format_example(...), ensure_ascii=False, separators=(",", ":")).encode(), built from pieces so
# that the system prompt, most of every line, is encoded once per language rather than once per example.
_LINE_TEMPLATES = {
    "alpaca": b'{"instruction":%(system)b,"input":%(user)b,"output":%(chosen)b}',
    "sharegpt": (
        b'{"conversations":[{"from":"system","value":%(system)b},{"from":"human","value":%(user)b},'
        b'{"from":"gpt","value":%(chosen)b}]}'
    ),
    "messages": (
        b'{"messages":[{"role":"system","content":%(system)b},{"role":"user","content":%(user)b},'
        b'{"role":"assistant","content":%(chosen)b}]}'
    ),
    PREFERENCE: (
        b'{"prompt":[{"role":"system","content":%(system)b},{"role":"user","content":%(user)b}],'
        b'"chosen":[{"role":"assistant","content":%(chosen)b}],"rejected":[{"role":"assistant","content":%(rejected)b}]}'
    ),
}


# What json.dumps(text, ensure_ascii=False) returns for a str, without building an encoder per call.
_json_str = json.encoder.encode_basestring


def _json_text(text: str) -> bytes:
    return _json_str(text).encode("utf-8")


class LineFormatter:
    """Training records in one format and prompt variant as compact UTF-8 JSON lines (no newline), for
    streaming many examples."""

    def __init__(self, fmt: str, variant: str = PromptVariant.FULL) -> None:
        if fmt not in _LINE_TEMPLATES:
            raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.variant = prompt_variant_checked(variant)
        self._template = _LINE_TEMPLATES[fmt]
        self._systems: dict[str, bytes] = {}

    def line(self, *, request: GradingRequest, label: dict[str, Any], rejected: dict[str, Any] | None = None) -> bytes:
        """What format_example(...) returns, as a compact JSON line."""
        system = self._systems.get(request.language)
        if system is None:
            system = self._systems[request.language] = _json_text(build_system_prompt(request.language, self.variant))
        parts = {b"system": system, b"user": _json_text(build_user_prompt(request))}
        if self.fmt == PREFERENCE:
            if rejected is None:
                raise ValueError("a preference record needs the machine's original grade (a corrected example)")
            parts[b"chosen"] = _json_text(label_json(label))  # the label first: its error is the one reported
            parts[b"rejected"] = _json_text(label_json(rejected))
        else:
            parts[b"chosen"] = _json_text(label_json(label))
        return self._template % parts


def format_example(
    fmt: str,
    *,
    request: GradingRequest,
    label: dict[str, Any],
    rejected: dict[str, Any] | None = None,
    variant: str = PromptVariant.FULL,
) -> dict[str, Any]:
    """One training record in `fmt` (alpaca | sharegpt | messages | preference), with the system prompt of
    `variant` (full | compact).

    `preference` needs `rejected`, the machine's original grade that the reviewer corrected into `label`.
    """
    system, user = build_system_prompt(request.language, variant), build_user_prompt(request)
    if fmt == PREFERENCE:
        if rejected is None:
            raise ValueError("a preference record needs the machine's original grade (a corrected example)")
        return _preference(system, user, label_json(label), label_json(rejected))
    try:
        builder = _BUILDERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return builder(system, user, label_json(label))
