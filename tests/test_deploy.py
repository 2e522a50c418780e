"""compose.yaml and the Dockerfile against the code: no Docker engine runs here, so the files are parsed and
every command, environment variable and volume is checked against what the project reads and runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, dict] = COMPOSE["services"]
# The services that run this project's image (the others are PostgreSQL, Redis and Ollama).
APP_SERVICES = {name: service for name, service in SERVICES.items() if "build" in service}
SERVE_SCRIPT = ROOT / "deploy" / "serve.sh"


def _read_by_the_code() -> set[str]:
    """Every environment variable the project reads: settings (`env.X("NAME")`), `os.environ` anywhere in
    ready4hire/, and the server script (`${NAME`)."""
    names = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', (ROOT / "ready4hire" / "settings.py").read_text()))
    for module in (ROOT / "ready4hire").glob("*.py"):
        names |= set(re.findall(r'os\.environ(?:\.get\(|\[)\s*"([A-Z0-9_]+)"', module.read_text()))
    names |= set(re.findall(r"\$\{([A-Z0-9_]+)", SERVE_SCRIPT.read_text()))
    return names


def _interpolated(value: object) -> str:
    """A compose value as compose would pass it with no .env file: `${X:-default}` → default, `${X:?…}` (must
    be set) → a stand-in."""
    text = str(value)
    text = re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "x" * 60, text)
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)


def _environment(service: dict) -> dict[str, str]:
    return {name: _interpolated(value) for name, value in (service.get("environment") or {}).items()}


def test_every_variable_given_to_the_app_is_one_the_code_reads():
    read = _read_by_the_code()
    for name, service in APP_SERVICES.items():
        unknown = sorted(set(_environment(service)) - read)
        assert not unknown, f"{name} sets variables nothing reads: {unknown}"
    dockerfile_env = re.findall(r"^\s*([A-Z][A-Z0-9_]+)=", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert not sorted(
        set(dockerfile_env)
        - read
        - {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PATH"}
        - {"PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK", "VIRTUAL_ENV"}
    )


@pytest.mark.parametrize("service_name", sorted(APP_SERVICES))
def test_the_settings_accept_each_services_environment(service_name):
    """Loading the settings with the service's environment (as in the container) works, and gives the paths and
    URLs the other services and volumes expect."""
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "LLM_", "CELERY_", "DATABASE_"))},
        **_environment(APP_SERVICES[service_name]),
    }
    script = (
        "import json, django; from django.conf import settings as s; django.setup(); print(json.dumps({"
        "'media': str(s.MEDIA_ROOT), 'db': s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL,"
        "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'llm': s.LLM_BASE_URL, 'backend': s.LLM_BACKEND, 'debug': s.DEBUG}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "ready4hire.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert seen["debug"] is False and "postgresql" in seen["db"] and seen["eager"] is False
    assert urlsplit(seen["broker"]).hostname in SERVICES and SERVICES[urlsplit(seen["broker"]).hostname][
        "image"
    ].startswith("redis")
    llm_host = urlsplit(seen["llm"])
    assert (
        seen["backend"] == "ollama"
        and SERVICES[llm_host.hostname]["image"].startswith("ollama/")
        and llm_host.port == 11434
    )
    # MEDIA_ROOT is a named volume, shared by every service that writes or reads exports and models.
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in APP_SERVICES[service_name]["volumes"]}
    assert mounts.get(seen["media"]) in COMPOSE["volumes"]


def test_the_database_url_matches_the_postgres_service():
    postgres = SERVICES["postgres"]
    database = _environment(postgres)
    for name, service in APP_SERVICES.items():
        url = urlsplit(_environment(service)["DATABASE_URL"])
        assert url.hostname == "postgres" and url.port == 5432, name
        assert (url.username, url.password, url.path.lstrip("/")) == (
            database["POSTGRES_USER"],
            database["POSTGRES_PASSWORD"],
            database["POSTGRES_DB"],
        )
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])


def test_every_queue_has_one_worker_and_there_is_one_beat():
    workers: dict[str, str] = {}
    beats = []
    for name, service in APP_SERVICES.items():
        command = service["command"]
        if command[0] != "celery":
            continue
        assert command[1:3] == ["-A", "ready4hire"], name
        if "beat" in command:
            beats.append(name)
            continue
        assert "worker" in command, name
        queue = command[command.index("-Q") + 1]
        assert queue in settings.CELERY_TASK_QUEUES, f"{name} serves an unknown queue {queue!r}"
        assert queue not in workers, f"{queue} has two workers"
        workers[queue] = name
        assert service["healthcheck"]["test"], name
    assert set(workers) == set(settings.CELERY_TASK_QUEUES)
    assert len(beats) == 1


def test_web_runs_what_make_serve_runs_and_the_other_commands_exist():
    makefile = (ROOT / "Makefile").read_text()
    serve_recipe = re.search(r"^serve:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    web = SERVICES["web"]
    assert web["command"] == ["deploy/serve.sh"] and "deploy/serve.sh" in serve_recipe
    assert os.access(SERVE_SCRIPT, os.X_OK)
    assert _environment(web)["HOST"] == "0.0.0.0"
    port = _environment(web)["PORT"]
    assert any(mapping.endswith(f":{port}") for mapping in web["ports"])
    assert f"127.0.0.1:{port}/api/v1/health" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    migrate = SERVICES["migrate"]["command"]
    assert migrate[:2] == ["python", "manage.py"] and migrate[2] in get_commands()


def test_every_service_has_a_health_check_and_every_volume_is_declared():
    for name, service in SERVICES.items():
        if name == "migrate":  # a one-off: its exit status is its health
            continue
        assert "healthcheck" in service or name == "beat", f"{name} has no health check"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in COMPOSE["volumes"], f"{name} mounts an undeclared volume {source}"


def test_the_dockerfile_is_slim_non_root_and_takes_the_train_extra():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.MULTILINE)
    user = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^ARG EXTRAS=""$', dockerfile, re.MULTILINE)
    assert SERVICES["worker-training"]["build"]["args"]["EXTRAS"] == "train"
    assert "train" in settings_extras()


def settings_extras() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
