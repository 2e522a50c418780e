"""API authentication: hashed API keys as bearer tokens, or a logged-in staff session."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from .models import ApiKey


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = ApiKey.objects.filter(key_hash=ApiKey.hash_key(token), is_active=True).first()
        if key is None:
            return None
        now = timezone.now()
        # Touch at most once a minute: a write per request would make the key row a hot spot.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return key


class StaffSessionAuth(SessionAuth):
    """A staff member logged in to the admin can use the API from the browser (CSRF still applies)."""

    def authenticate(self, request: HttpRequest, key: str | None):
        user = super().authenticate(request, key)
        if user is not None and getattr(user, "is_staff", False):
            return user
        return None
