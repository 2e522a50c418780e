"""The fields every requested job's response carries (a dataset export, a fine-tune run): who asked for it
and when it was created, started and finished."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema

from evaluation.auth import Actor


class RequestedJobOut(Schema):
    requested_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_requested_by(obj) -> str | None:
        return Actor(user=obj.requested_by, api_key=obj.requested_by_key).name
