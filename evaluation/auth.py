"""API authentication and the one access check: hashed API keys as bearer tokens or a logged-in staff
session; every operation declares a scope (`scoped`) that a key must hold and a Django permission that a
session must hold; the permission check write endpoints make; and who is acting on a request.

Routers declare their access once (`Router(auth=scoped("train", session_permission=...))`), an operation
that differs overrides it (`@router.get(..., auth=scoped(...))`), and an operation that declares nothing
falls back to `undeclared()`: admin keys and superusers only, and tests/test_scopes.py fails for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer, SessionAuth
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from ready4hire.errors import Forbidden
from ready4hire.lookups import cached_lookup
from ready4hire.ratelimit import api_key_throttle

from .models import ApiKey

SCOPES: tuple[str, ...] = tuple(ApiKey.Scope.values)
ADMIN = ApiKey.Scope.ADMIN.value


@cached_lookup("evaluation.ApiKey", settings.AUTH_USER_MODEL, cache_none=False)
def _active_api_key(key_hash: str) -> ApiKey | None:
    """The active key with this hash (of an active user, when bound to one). Cached for a few seconds: a key
    revoked, changed or deleted here, or whose user was, is refused at once; one revoked by another process
    within LOOKUP_CACHE_SECONDS (ready4hire.lookups)."""
    return (
        ApiKey.objects.select_related("user")
        .filter(Q(user__isnull=True) | Q(user__is_active=True), key_hash=key_hash, is_active=True)
        .first()
    )


class ApiKeyAuth(HttpBearer):
    """An active API key (of an active user, when bound to one) that holds the operation's scope."""

    def __init__(self, scope: str | None) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = _active_api_key(ApiKey.hash_key(token))
        if key is None:
            return None
        now = timezone.now()
        # Touch at most once a minute: a write per request would make the key row a hot spot.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now  # the cached key too, so the next touch waits its minute
        api_key_throttle(api_key=key)  # 429 once the key's rate limit is used up
        scope = self.scope or ADMIN
        if not key.allows(scope):
            # Raised rather than returning None: the key is valid, so the answer is 403, not 401.
            raise Forbidden(f"This API key lacks the '{scope}' scope (it has: {', '.join(key.scopes) or 'none'}).")
        return key


class StaffSessionAuth(SessionAuth):
    """A staff member logged in to the admin, with the Django permission the operation declares (the one the
    admin asks for to show the same data). CSRF applies to their unsafe requests."""

    def __init__(self, scope: str | None, permission: str | None) -> None:
        super().__init__(csrf=True)
        self.scope = scope
        self.permission = permission

    def __call__(self, request: HttpRequest) -> AbstractBaseUser | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            # No session: the caller is unauthenticated (401), never "CSRF failed", whatever the method.
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request) is not None:
            raise Forbidden("CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header.")
        if self.permission is None:
            if not user.is_superuser:
                raise Forbidden("Only a superuser's session may use this endpoint.")
        elif not user.has_perm(self.permission):
            raise Forbidden(f"Your account lacks the '{self.permission}' permission.")
        return user


def scoped(scope: str, *, session_permission: str) -> list[AuthBase]:
    """The access an operation declares: keys need `scope` (or `admin`), sessions need `session_permission`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return [ApiKeyAuth(scope), StaffSessionAuth(scope, session_permission)]


def undeclared() -> list[AuthBase]:
    """The API's default for an operation that declares no scope: admin keys and superusers only."""
    return [ApiKeyAuth(None), StaffSessionAuth(None, None)]


def declared_scope(auth_callbacks: list) -> str | None:
    """The scope an operation's auth declares; '' for a public operation, None for an undeclared one."""
    if not auth_callbacks:
        return ""
    return next((auth.scope for auth in auth_callbacks if isinstance(auth, ApiKeyAuth)), None)


def require_permission(request: HttpRequest, permission: str) -> None:
    """API keys are limited by their scopes; a staff session needs the same permission as in the admin."""
    user = request.auth
    if isinstance(user, AbstractBaseUser) and not user.has_perm(permission):
        raise Forbidden(f"Your account lacks the '{permission}' permission.")


@dataclass(frozen=True)
class Actor:
    """Who acted: a staff user, a program's API key, or a person's key (both set: the key's bound user)."""

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
    """The acting user (a session's, or the one a key is bound to) and the key, if a key was used."""
    auth = request.auth
    if isinstance(auth, ApiKey):
        return Actor(user=auth.user, api_key=auth)
    return Actor(user=auth if isinstance(auth, AbstractBaseUser) else None, api_key=None)


def request_reviewer(request: HttpRequest) -> AbstractBaseUser:
    """The person a review is attributed to: the session's user or the key's bound user. A key bound to no
    user is a program, and a program does not review: 403."""
    actor = request_actor(request)
    if actor.user is None:
        raise Forbidden(
            "This API key is bound to no user, so it cannot review: reviews are attributed to a person. Create "
            "one with `manage.py create_api_key NAME --user USERNAME --scopes review`."
        )
    return actor.user
