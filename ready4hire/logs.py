"""Structured logs: the JSON formatter of LOG_FORMAT=json, and the request id carried into Celery tasks.

One JSON object per line: `timestamp`, `level`, `logger`, `message`, `request_id`, the Celery task's
`task_id` and `task_name` inside a task, `exception` with the traceback, and whatever the call passed as
`extra` (a grade's `evaluation_id`, `model`, `source`, `latency_ms`, `cache_hit`).

The request id travels with every task queued while a request runs: a message header set when the task
is published, bound again in the worker for the task's run (`task_prerun` / `task_postrun`), so a grade
queued with `?wait=false` logs under the id of the request that asked for it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from celery import current_task
from celery.signals import before_task_publish, task_postrun, task_prerun

from .middleware import request_id_bind, request_id_get, request_id_unbind

REQUEST_ID_TASK_HEADER = "r4h_request_id"
# Every attribute a LogRecord has of its own; anything else on a record came from `extra`.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_get(),
        }
        if current_task and current_task.request.id is not None:  # a proxy: false outside a task
            entry["task_id"], entry["task_name"] = current_task.request.id, current_task.name
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


@before_task_publish.connect(weak=False)
def _carry_request_id(headers: dict | None = None, **_: object) -> None:
    request_id = request_id_get()
    if headers is not None and request_id != "-":
        headers.setdefault(REQUEST_ID_TASK_HEADER, request_id)


# A task's context token, by task id, from prerun to postrun (a worker may run tasks in threads).
_bound: dict[str, object] = {}


@task_prerun.connect(weak=False)
def _bind_request_id(task_id: str | None = None, task: object = None, **_: object) -> None:
    request_id = getattr(getattr(task, "request", None), REQUEST_ID_TASK_HEADER, None)
    if request_id and task_id:
        _bound[task_id] = request_id_bind(str(request_id))


@task_postrun.connect(weak=False)
def _unbind_request_id(task_id: str | None = None, **_: object) -> None:
    token = _bound.pop(task_id, None) if task_id else None
    if token is not None:
        request_id_unbind(token)  # type: ignore[arg-type]
