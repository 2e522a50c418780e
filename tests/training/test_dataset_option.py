"""`--dataset ID` in every command that takes it: an id naming no export is answered with the existing ids."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from training.services import dataset_export_submit

from .factories import TrainingExampleFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

COMMANDS = [
    ("build_modelfile", "--from", "llama3.2:3b", "--name", "grader:v1"),
    ("finetune", "--init-tiny"),
    ("compare_models", "--models", "base=tiny-base", "ft=latest"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[command[0] for command in COMMANDS])
def test_an_unknown_dataset_lists_the_existing_exports(command):
    TrainingExampleFactory.create_batch(6, review_status="approved")
    first = dataset_export_submit(wait=True)
    second = dataset_export_submit(fmt="alpaca", wait=True)

    with pytest.raises(CommandError) as raised:
        call_command(*command, "--dataset", "999")

    message = str(raised.value)
    assert message.startswith("--dataset 999: no dataset export has that id. The existing ones:")
    lines = message.splitlines()[1:]
    assert lines[0].split()[:3] == [str(second.pk), "ready4hire", "v2"]
    assert lines[1].split()[:3] == [str(first.pk), "ready4hire", "v1"]
    assert "(messages, done, 5 train / 1 validation)" in lines[1]


def test_with_no_export_at_all_it_says_how_to_make_one():
    with pytest.raises(CommandError, match="no dataset export exists yet. Create one with: python manage.py"):
        call_command("finetune", "--init-tiny", "--dataset", "1")
