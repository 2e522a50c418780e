"""Production settings come from the environment: the README's production example passes
`manage.py check --deploy`, and a short secret key is refused at start-up when DEBUG is off."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_production_environment() -> dict[str, str]:
    """The `export` lines of the README's "Production settings" block, evaluated as a shell would."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Production settings", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    exports = "\n".join(line for line in block.splitlines() if line.startswith("export "))
    assert "DJANGO_DEBUG=false" in exports and "DJANGO_SECRET_KEY" in exports
    # The block generates its secret key with `python -c`: run it with this interpreter.
    script = f'python() {{ {shlex.quote(sys.executable)} "$@"; }}\n{exports}\nenv -0'
    output = subprocess.run(["bash", "-c", script], capture_output=True, check=True, env={}).stdout.decode()
    return dict(item.split("=", 1) for item in output.split("\0") if "=" in item)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True
    )


def test_the_readme_production_example_passes_check_deploy():
    env = readme_production_environment()
    assert len(env["DJANGO_SECRET_KEY"]) >= 50
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_the_example_check_deploy_warns():
    env = {**readme_production_environment(), "DJANGO_SECURE_HSTS_SECONDS": "0", "DJANGO_SECURE_SSL_REDIRECT": "no"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "security.W004" in result.stderr and "security.W008" in result.stderr


@pytest.mark.parametrize("key", ["", "short-but-set", "x" * 49])
def test_a_missing_or_short_secret_key_is_refused_in_production(key):
    env = {**readme_production_environment(), "DJANGO_SECRET_KEY": key}
    if not key:
        env.pop("DJANGO_SECRET_KEY")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "50 characters" in result.stderr
    if key:
        assert key not in result.stderr  # the refusal never prints the key itself


def test_a_short_key_is_fine_while_debugging():
    result = manage("check", env={"DJANGO_DEBUG": "true", "DJANGO_SECRET_KEY": "short"})
    assert result.returncode == 0, result.stderr


def test_the_proxy_header_setting_must_name_a_header_and_a_value():
    env = {**readme_production_environment(), "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}
    result = manage("check", env=env)
    assert result.returncode != 0 and "DJANGO_SECURE_PROXY_SSL_HEADER" in result.stderr


def test_health_answers_plain_http_probes_while_the_rest_redirects_to_https(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/api/v1/health").status_code in (200, 503)
    assert client.get("/api/v1/evaluations").status_code == 301
