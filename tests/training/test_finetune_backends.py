"""`--backend unsloth` is refused before any run is stored where it cannot run (no CUDA GPU, no unsloth
package, or several processes), from the command and from the API. Where it runs: test_finetune_unsloth.py."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
from django.core.management import CommandError, call_command

from training.finetune.backends import backend_unavailable_reason
from training.finetune.deps import missing_train_packages
from training.models import FineTuneRun

from ..conftest import service_missing
from .factories import DatasetExportFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def train_extra() -> None:
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")


@pytest.fixture
def cuda_claimed(train_extra, monkeypatch):
    """As on a CUDA machine, for the check only (nothing trains in these tests)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.fixture
def export(train_extra, media_root):
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


def test_with_cuda_but_without_the_package_the_command_says_what_to_install(cuda_claimed, media_root, monkeypatch):
    monkeypatch.setitem(sys.modules, "unsloth", None)  # not installed, even where it is
    export = DatasetExportFactory(train_count=4, val_count=1, files={"train": {"path": "x.jsonl"}})

    with pytest.raises(CommandError, match=r"needs the unsloth package: pip install unsloth"):
        call_command("finetune", dataset=export.pk, init_tiny=True, backend="unsloth", no_progress=True)
    assert not FineTuneRun.objects.exists()


def test_unsloth_under_accelerate_launch_is_refused(cuda_claimed, monkeypatch):
    installed = types.ModuleType("unsloth")
    installed.__spec__ = importlib.machinery.ModuleSpec("unsloth", None)
    monkeypatch.setitem(sys.modules, "unsloth", installed)
    assert backend_unavailable_reason("unsloth") == ""

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert "trains on one GPU: run it without accelerate launch" in backend_unavailable_reason("unsloth")
