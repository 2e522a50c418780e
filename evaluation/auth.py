"""API authentication (hashed API keys as bearer tokens, or a logged-in staff session), the permission check
every write endpoint makes, and who is acting on a request: a staff user or a program's API key."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth

from ready4hire.errors import Forbidden

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


def require_permission(request: HttpRequest, permission: str) -> None:
    """API keys belong to trusted programs; a staff session needs the same permission as in the admin."""
    user = request.auth
    if isinstance(user, AbstractBaseUser) and not user.has_perm(permission):
        raise Forbidden(f"Your account lacks the '{permission}' permission.")


@dataclass(frozen=True)
class Actor:
    """Who acted: a staff user or a program's API key (a row that records neither has no actor)."""

    user: AbstractBaseUser | None
    api_key: ApiKey | None

    @property
    def principal(self) -> AbstractBaseUser | ApiKey | None:
        """The user or the key, for services that record either one."""
        return self.user if self.user is not None else self.api_key

    @property
    def name(self) -> str | None:
        """How the API names the actor: the username, or 'API key NAME' for a program."""
        if self.user is not None:
            return self.user.get_username()
        if self.api_key is not None:
            return f"API key {self.api_key.name}"
        return None


def request_actor(request: HttpRequest) -> Actor:
    auth = request.auth
    return Actor(
        user=auth if isinstance(auth, AbstractBaseUser) else None,
        api_key=auth if isinstance(auth, ApiKey) else None,
    )
