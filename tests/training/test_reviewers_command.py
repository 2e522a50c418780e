"""`manage.py create_reviewer`: a staff account in the Reviewers group, optionally an adjudicator."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args: str, stdin: str | None = None, monkeypatch=None) -> str:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("create_reviewer", *args, stdout=out)
    return out.getvalue()


def test_a_generated_password_is_printed_once_and_works(client):
    out = run("marta", "--email", "marta@example.com")
    password = out.strip().splitlines()[-1]
    user = get_user_model().objects.get(username="marta")
    assert user.is_staff and not user.is_superuser and user.email == "marta@example.com"
    assert list(user.groups.values_list("name", flat=True)) == ["Reviewers"]
    assert user.has_perm("training.change_trainingexample")
    assert not user.has_perm("training.adjudicate_trainingexample")
    assert not user.has_perm("training.delete_trainingexample")
    assert client.login(username="marta", password=password)


def test_an_adjudicator_with_a_password_from_stdin(monkeypatch, client):
    out = run("lucia", "--adjudicator", "--password-stdin", stdin="a-long-Secret-9\n", monkeypatch=monkeypatch)
    assert "adjudicator" in out and "a-long-Secret-9" not in out and "Password" not in out
    user = get_user_model().objects.get(username="lucia")
    assert user.has_perm("training.adjudicate_trainingexample")
    assert client.login(username="lucia", password="a-long-Secret-9")


def test_refusals(monkeypatch):
    run("marta")
    with pytest.raises(CommandError, match="already exists"):
        run("marta")
    with pytest.raises(CommandError, match="e-mail"):
        run("pablo", "--email", "not-an-address")
    with pytest.raises(CommandError, match="no password"):
        run("pablo", "--password-stdin", stdin="", monkeypatch=monkeypatch)
    assert not get_user_model().objects.filter(username="pablo").exists()
