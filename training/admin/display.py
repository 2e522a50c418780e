"""Small pieces the training admin pages share: a job's live state (status and progress, refreshed by
training/static/training/live.js while it runs) and dictionaries shown as tables instead of JSON dumps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db import models
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..models import JobStatus

RUNNING = (JobStatus.PENDING, JobStatus.RUNNING)


def job_state(obj: models.Model, *, detail: str = "") -> SafeString:
    """'Running ▮▮▯ 40 %' for a job row (`status`, `progress`), marked so the page refreshes it until it ends."""
    key = f"{obj._meta.model_name}-{obj.pk}-state"
    running = obj.status in RUNNING
    progress = (
        format_html(' <progress max="100" value="{}"></progress> {}%', obj.progress, obj.progress) if running else ""
    )
    return format_html(
        '<span class="r4h-state r4h-state-{}" data-r4h-live="{}"{}>{}{}{}</span>',
        obj.status,
        key,
        mark_safe(" data-r4h-running") if running else "",  # noqa: S308  (a constant)
        obj.get_status_display(),
        progress,
        format_html(" <span class='r4h-quiet'>{}</span>", detail) if detail else "",
    )


def live(obj: models.Model, name: str, content: Any, *, running: bool) -> SafeString:
    """Any other part of a job's page that changes while it runs (step, loss, counts)."""
    return format_html(
        '<span data-r4h-live="{}-{}-{}"{}>{}</span>',
        obj._meta.model_name,
        obj.pk,
        name,
        mark_safe(" data-r4h-running") if running else "",  # noqa: S308  (a constant)
        content,
    )


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value) or "–"
    if isinstance(value, Mapping) and all(isinstance(item, str | int | float) for item in value.values()):
        return ", ".join(f"{key.replace('_', ' ')} {_cell(item)}" for key, item in value.items()) or "–"
    if isinstance(value, Mapping) or isinstance(value, list | tuple):
        return format_html("<code>{}</code>", json.dumps(value, ensure_ascii=False))
    return "–" if value in (None, "") else value


def key_value_table(data: Mapping[str, Any], *, labels: Mapping[str, str] | None = None) -> SafeString | str:
    """One row per key: the key (or its label) and the value, numbers shortened, short lists joined."""
    if not data:
        return "–"
    labels = labels or {}
    rows = ((labels.get(key, key.replace("_", " ")), _cell(value)) for key, value in data.items())
    return format_html(
        '<table class="r4h-table"><tbody>{}</tbody></table>',
        format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
    )


def rows_table(columns: list[str], rows: list[list[Any]]) -> SafeString | str:
    """A table with a header row; cells shortened like `key_value_table`'s."""
    if not rows:
        return "–"
    head = format_html_join("", "<th>{}</th>", ((column,) for column in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((_cell(cell),) for cell in row)),) for row in rows),
    )
    return format_html('<table class="r4h-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head, body)
