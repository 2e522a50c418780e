"""What text the project accepts from outside, defined once: the API schemas' base and text types, and the
same rules as plain functions for importers that read files instead of requests.

Text that cannot be stored or means nothing is refused at the edge with the field's name, instead of
failing deep inside (PostgreSQL refuses NUL, UTF-8 refuses lone surrogates) or being graded as an answer:
- control characters other than tab, newline and carriage return;
- lone surrogates (a JSON body may carry `"\\ud800"`, which no UTF-8 database column can hold);
- text that is empty once white space and zero-width characters are removed (for required text).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from ninja import Schema
from pydantic import AfterValidator, ConfigDict

__all__ = [
    "InputSchema",
    "OptionalText",
    "Text",
    "text_problem",
    "text_validate",
    "texts_problem",
]

# C0 controls less tab (09), newline (0A) and carriage return (0D); DEL; C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Zero-width space, non-joiner, joiner, word joiner and the byte-order mark: invisible, so text made of
# them (and white space) is as empty as "".
_INVISIBLE = re.compile(r"[\s\u200b-\u200d\u2060\ufeff]+")


def text_problem(value: str, *, required: bool = True) -> str | None:
    """Why `value` cannot be accepted as text, or None when it can. An optional text may be exactly ""."""
    if control := _CONTROL.search(value):
        return f"must not contain control characters (found U+{ord(control.group()):04X})"
    if _SURROGATE.search(value):
        return "must not contain lone surrogates (text must be valid Unicode)"
    if (required or value) and not _INVISIBLE.sub("", value):
        return "must not be empty or only white space"
    return None


def text_validate(value: str, *, required: bool = True) -> str:
    """`value` unchanged, or ValueError saying what is wrong with it (pydantic turns it into a field error)."""
    problem = text_problem(value, required=required)
    if problem is not None:
        raise ValueError(problem)
    return value


def _optional(value: str) -> str:
    return text_validate(value, required=False)


# Required text: at least one visible character. Optional text: "" (meaning "none") or visible text.
Text = Annotated[str, AfterValidator(text_validate)]
OptionalText = Annotated[str, AfterValidator(_optional)]


class InputSchema(Schema):
    """The base of every API input (bodies and query filters): an unknown field is refused (422 naming it),
    not silently ignored, so a misspelt or misplaced option never passes for the default."""

    model_config = ConfigDict(extra="forbid")


def texts_problem(value: Any, *, path: str = "") -> tuple[str, str] | None:
    """The first string anywhere inside a decoded JSON value that cannot be stored, as (path, problem).

    For importers of whole records: each string is checked for storability only (empty strings are for the
    record's own rules to judge)."""
    if isinstance(value, str):
        problem = text_problem(value, required=False)
        return (path, problem) if problem else None
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (found := texts_problem(key, path=path)):
            return found
        if found := texts_problem(item, path=f"{path}.{key}" if path else str(key)):
            return found
    return None
