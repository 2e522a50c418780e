"""Fixtures of the training tests: the reviewers (group, user, logged-in client), comparison settings, and the
packages the GGUF tests need."""

from __future__ import annotations

import importlib
import importlib.util

import pytest
from django.contrib.auth.models import Group, Permission

from training.finetune.deps import missing_train_packages

from ..conftest import service_missing

REVIEWERS_MIGRATION = importlib.import_module("training.migrations.0002_reviewers_group")


@pytest.fixture
def reviewers_group() -> Group:
    """The group the data migration creates. A transactional test flushes the tables (and with them the
    migration's rows) when it ends, so the group is put back the same way if it is missing."""
    group, created = Group.objects.get_or_create(name=REVIEWERS_MIGRATION.GROUP_NAME)
    if created:
        group.permissions.set(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in REVIEWERS_MIGRATION.PERMISSIONS
        )
    return group


@pytest.fixture
def reviewer(django_user_model, reviewers_group):
    """A recruiter who reviews examples: staff (may use the admin), in Reviewers, not a superuser."""
    user = django_user_model.objects.create_user(username="rita", is_staff=True)
    user.groups.add(reviewers_group)
    return user


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def comparison_settings(settings, media_root):
    """Comparisons that reach only the loopback servers a test names: no default LLM, no retries or backoff,
    and fewer bootstrap resamples than production."""
    settings.LLM_BACKEND = "none"
    settings.LLM_RETRY_BACKOFF = 0
    settings.LLM_MAX_RETRIES = 0
    settings.COMPARISON_BOOTSTRAP_RESAMPLES = 200
    return settings


@pytest.fixture(scope="module")
def gguf_extras() -> None:
    """Skip (or, where CI requires every package, fail) without the [train] extra and llama-cpp-python."""
    missing = missing_train_packages()
    if missing:
        service_missing(f"needs the [train] extra (missing: {', '.join(missing)}): pip install -e '.[train]'")
    if importlib.util.find_spec("llama_cpp") is None:
        service_missing("needs llama-cpp-python: CMAKE_ARGS=-DLLAVA_BUILD=OFF pip install -e '.[serve]'")
