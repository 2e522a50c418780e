"""`--backend unsloth` is refused before any run is stored where it cannot run (no CUDA GPU or no unsloth
package), from the command and from the API."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from training.finetune.backends import backend_unavailable_reason
from training.finetune.deps import missing_train_packages
from training.models import FineTuneRun

from ..conftest import service_missing
from .factories import DatasetExportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(media_root):
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")
    if not backend_unavailable_reason("unsloth"):
        pytest.skip("Unsloth can run on this machine: nothing to refuse")
    return DatasetExportFactory(train_count=4, val_count=1, files={"train": {"path": "x.jsonl"}})


def test_the_command_refuses_unsloth_before_any_run(export):
    with pytest.raises(CommandError, match="Unsloth backend needs"):
        call_command("finetune", dataset=export.pk, init_tiny=True, backend="unsloth", no_progress=True)
    assert not FineTuneRun.objects.exists()


def test_the_api_refuses_unsloth_with_the_field(api_client, export):
    response = api_client.post(
        "/api/v1/finetune-runs",
        {"dataset_export_id": export.pk, "init_tiny": True, "backend": "unsloth"},
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["field"] == "backend" and "CUDA" in response.json()["detail"]
    assert not FineTuneRun.objects.exists()
