from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

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
