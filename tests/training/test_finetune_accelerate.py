"""`manage.py finetune` launched as several processes (issue 15), as `accelerate launch --multi_gpu` runs it on
a multi-GPU box: torch's own launcher (`python -m torch.distributed.run`, which accelerate calls underneath and
which sets the same RANK / WORLD_SIZE) starts two processes on the CPU (gloo). Both train; only the main one
creates the run, writes progress, the files and the versions, and prints the report.

The processes share a SQLite file database and MEDIA_ROOT of this test's own, set up by the project's own
commands, so nothing here touches the test database or the project's files.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from training.finetune.deps import missing_train_packages

from ..conftest import service_missing

ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def project(tmp_path) -> dict[str, str]:
    """The environment of a fresh project: a migrated SQLite file and one synthetic export (id 1)."""
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")
    with socket.socket() as probe:  # a free port for the processes to meet on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **{key: value for key, value in os.environ.items() if key not in {"RANK", "WORLD_SIZE", "LOCAL_RANK"}},
        "DJANGO_SETTINGS_MODULE": "ready4hire.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "FINETUNE_TINY_VOCAB_SIZE": "512",
        "OMP_NUM_THREADS": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    create = (
        "from training.finetune.synthetic import synthetic_examples, synthetic_export_create; "
        "synthetic_export_create(examples=synthetic_examples(subsets=0)[:12], val_count=2)"
    )
    subprocess.run([*manage, "shell", "-c", create], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
    env["_DB"] = str(tmp_path / "db.sqlite3")
    return env


def _launch(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess:
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"),
        *("--master_addr", env["MASTER_ADDR"], "--master_port", env["MASTER_PORT"]),
        *("manage.py", "finetune", *arguments, "--no-progress"),
    ]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)


def _rows(env: dict[str, str], sql: str) -> list[tuple]:
    with sqlite3.connect(env["_DB"]) as db:
        return db.execute(sql).fetchall()


def test_two_processes_train_one_run_and_register_one_version(project):
    result = _launch(project, "--dataset", "1", "--init-tiny", "--steps", "2", "--max-length", "4096")

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    runs = _rows(project, "SELECT id, status, device, precision, tokens_per_second, metrics FROM training_finetunerun")
    assert len(runs) == 1 and runs[0][1:4] == ("done", "cpu", "fp32") and runs[0][4] > 0
    assert '"processes": 2' in runs[0][5]
    versions = _rows(project, "SELECT name, version, kind FROM training_modelversion ORDER BY name")
    assert versions == [("ready4hire", 1, "finetuned"), ("ready4hire-tiny-base", 1, "base")]
    # One report, from the main process, which saw both processes train.
    assert result.stdout.count("Model version:") == 1 and "2 processes" in result.stdout


def test_a_run_the_main_process_refuses_stops_every_process(project):
    result = _launch(project, "--dataset", "1", "--base", "llama3")

    assert result.returncode != 0
    assert "neither a model folder" in result.stderr
    assert "The main process refused the run" in result.stderr
    assert _rows(project, "SELECT count(*) FROM training_finetunerun") == [(0,)]
