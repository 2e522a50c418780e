"""build_modelfile, push_model, validate_model and ollama_models from the command line."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.llm_servers import DEFAULT_MODEL, FakeOllamaServer, closed_port_url
from training.modelfile import parse
from training.models import Modelfile

from .modelfile_helpers import use_ollama, write_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def ollama(settings, ollama_server: FakeOllamaServer, media_root: Path) -> FakeOllamaServer:
    use_ollama(settings, ollama_server.base_url)
    return ollama_server


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_build_modelfile_prints_the_path_and_the_row(ollama, tmp_path: Path) -> None:
    export = write_export(rows=[(2.0, "es"), (5.0, "es"), (9.5, "es")])
    out = tmp_path / "Modelfile"
    output = run(
        "build_modelfile",
        "--from",
        "llama3.2:3b",
        "--name",
        "ready4hire-llama3.2:3b",
        "--dataset",
        str(export.pk),
        "--few-shot",
        "3",
        "--parameter",
        "temperature=0.2",
        "--parameter",
        "top_p=",
        "-o",
        str(out),
    )
    modelfile = Modelfile.objects.get()
    assert f"Modelfile #{modelfile.pk} for ready4hire-llama3.2:3b written to {out}" in output
    assert f"Few-shot pairs: 3 from dataset export #{export.pk}" in output
    spec = parse(out.read_text(encoding="utf-8"))
    assert spec.parameter_dict()["temperature"] == 0.2 and "top_p" not in spec.parameter_dict()
    assert len(spec.messages) == 6


def test_build_modelfile_writes_under_media_by_default(ollama, settings) -> None:
    output = run("build_modelfile", "--from", "llama3.2:3b", "--name", "ready4hire:v1", "--language", "en")
    path = Path(settings.MEDIA_ROOT) / "modelfiles" / "ready4hire_v1" / "Modelfile"
    assert str(path) in output and path.read_text(encoding="utf-8").startswith("FROM llama3.2:3b\n")


def test_build_modelfile_refuses_an_unknown_parameter(ollama) -> None:
    with pytest.raises(CommandError, match="Unknown parameter 'temprature'"):
        run("build_modelfile", "--from", "llama3.2:3b", "--name", "r:v1", "--parameter", "temprature=0.1")


def test_push_model_pushes_a_file_and_prints_its_blobs(ollama, tmp_path: Path, settings) -> None:
    settings.ALLOWED_MODEL_DIRS = [str(tmp_path)]  # model files lie in the test's folder (issue 9 confines paths)
    (tmp_path / "grader.gguf").write_bytes(b"GGUF" * 100)
    path = tmp_path / "Modelfile"
    path.write_text("FROM ./grader.gguf\nPARAMETER temperature 0.1\n", encoding="utf-8")
    output = run("push_model", str(path), "--name", "ready4hire:v1")
    assert "(400 bytes): uploaded" in output and "Pushed ready4hire:v1 to http://127.0.0.1:" in output
    assert "ready4hire:v1" in ollama.models
    assert Modelfile.objects.get().push_status == Modelfile.PushStatus.PUSHED


def test_push_model_names_the_bad_line(ollama, tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text('FROM llama3.2:3b\nSYSTEM """never closed\n', encoding="utf-8")
    with pytest.raises(CommandError, match=r"Modelfile: line 2: unterminated \"\"\" value"):
        run("push_model", str(path), "--name", "ready4hire:v1")


def test_push_model_to_a_dead_server_fails_clearly(settings, tmp_path: Path, media_root: Path) -> None:
    use_ollama(settings, closed_port_url())
    path = tmp_path / "Modelfile"
    path.write_text("FROM llama3.2:3b\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Pushing ready4hire:v1 to .* failed: .*ConnectError"):
        run("push_model", str(path), "--name", "ready4hire:v1")
    assert Modelfile.objects.get().push_status == Modelfile.PushStatus.FAILED


def test_validate_model_prints_the_rates_and_passes(ollama) -> None:
    output = run("validate_model", DEFAULT_MODEL)
    assert f"Model {DEFAULT_MODEL} on {ollama.base_url}: present" in output
    assert "Valid JSON:   100% (6/6)  minimum 90%" in output and "Schema-valid: 100% (6/6)" in output
    assert "passed validation" in output


def test_validate_model_exits_non_zero_below_the_thresholds(ollama) -> None:
    ollama.script("invalid_json", "schema_invalid")
    out = StringIO()
    with pytest.raises(CommandError, match="failed validation"):
        call_command("validate_model", DEFAULT_MODEL, stdout=out, stderr=StringIO())
    assert "Valid JSON:   83% (5/6)" in out.getvalue() and "Schema-valid: 67% (4/6)" in out.getvalue()


def test_validate_model_of_a_missing_model_fails(ollama) -> None:
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("validate_model", "nope:v1", stdout=out, stderr=StringIO())
    assert "nope:v1 on" in out.getvalue() and "MISSING" in out.getvalue()


def test_ollama_models_list_show_delete(ollama) -> None:
    assert DEFAULT_MODEL in run("ollama_models")
    shown = run("ollama_models", "show", DEFAULT_MODEL)
    assert f"Model {DEFAULT_MODEL}: llama 3.2B Q4_K_M" in shown and "FROM /root/.ollama/models/blobs/" in shown
    assert f"Deleted {DEFAULT_MODEL}." in run("ollama_models", "delete", DEFAULT_MODEL, "--yes")
    assert "No models on the server." in run("ollama_models", "list")
    with pytest.raises(CommandError, match="not found"):
        run("ollama_models", "delete", DEFAULT_MODEL, "--yes")
    with pytest.raises(CommandError, match="needs a model name"):
        run("ollama_models", "show")


def test_ollama_models_without_a_server(settings) -> None:
    settings.OLLAMA_ADMIN_URL = ""
    with pytest.raises(CommandError, match="set OLLAMA_ADMIN_URL"):
        run("ollama_models")


def test_push_model_without_a_server_stores_nothing(settings, tmp_path: Path) -> None:
    settings.OLLAMA_ADMIN_URL = ""
    path = tmp_path / "Modelfile"
    path.write_text("FROM llama3.2:3b\n", encoding="utf-8")
    with pytest.raises(CommandError, match="set OLLAMA_ADMIN_URL"):
        run("push_model", str(path), "--name", "ready4hire:v1")
    assert not Modelfile.objects.exists()
