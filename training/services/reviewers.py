"""People who review: a staff account in the Reviewers group, optionally allowed to adjudicate."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from ready4hire.errors import Conflict, InvalidInput

REVIEWERS_GROUP = "Reviewers"
REVIEWER_PERMISSIONS = ("view_trainingexample", "change_trainingexample")
ADJUDICATE_CODENAME = "adjudicate_trainingexample"


def _reviewers_group() -> Group:
    """The group the data migration makes; made again with its permissions if someone deleted it."""
    group, created = Group.objects.get_or_create(name=REVIEWERS_GROUP)
    if created:
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="training", codename__in=REVIEWER_PERMISSIONS)
        )
    return group


def reviewer_create(
    *, username: str, email: str = "", password: str | None = None, adjudicator: bool = False
) -> tuple[AbstractBaseUser, str | None]:
    """A staff user in the Reviewers group (and with the adjudicate permission when `adjudicator`).

    Returns the user and the generated password, or None when `password` was given (it is checked by the
    project's password validators first).
    """
    username = username.strip()
    if not username:
        raise InvalidInput("A reviewer needs a username.", field="username")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput(f"{email!r} is not an e-mail address.", field="email") from None
    User = get_user_model()  # noqa: N806 - a class
    if User.objects.filter(username=username).exists():
        raise Conflict(f"A user named {username!r} already exists.", field="username")
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(12)
    else:
        try:
            password_validation.validate_password(password, User(username=username, email=email))
        except ValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), field="password") from None
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password, is_staff=True)
        user.groups.add(_reviewers_group())
        if adjudicator:
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label="training", codename=ADJUDICATE_CODENAME)
            )
    return user, generated
