"""Paths named by a caller stay inside the allowed model folders: `..` and symlinks are followed before the
check, and a refused path gets the same answer whether or not it exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ready4hire.errors import InvalidInput
from ready4hire.paths import looks_like_path, path_confine
from training.selectors.versions import model_reference_resolve

pytestmark = pytest.mark.django_db


@pytest.fixture
def roots(settings, tmp_path: Path) -> dict[str, Path]:
    """MEDIA_ROOT, a separate fine-tune output folder and an extra allowed folder, plus a folder outside."""
    folders = {name: tmp_path / name for name in ("media", "runs", "models", "outside")}
    for folder in folders.values():
        folder.mkdir()
    settings.MEDIA_ROOT = folders["media"]
    settings.FINETUNE_OUTPUT_ROOT = str(folders["runs"])
    settings.ALLOWED_MODEL_DIRS = [str(folders["models"])]
    (folders["outside"] / "secret.env").write_text("SECRET_KEY=x")
    return folders


def refusal(value: str, field: str = "base") -> str:
    with pytest.raises(InvalidInput) as error:
        path_confine(value, field=field)
    assert error.value.field == field
    return str(error.value)


def test_paths_inside_each_allowed_folder_resolve(roots):
    for name in ("media", "runs", "models"):
        model = roots[name] / "model.gguf"
        model.write_bytes(b"GGUF")
        assert path_confine(str(model), field="base") == model.resolve()
    assert path_confine("./model.gguf", field="base", base_dir=roots["models"]) == roots["models"] / "model.gguf"


def test_dot_dot_and_symlinks_out_of_a_folder_are_refused(roots):
    secret = roots["outside"] / "secret.env"
    (roots["media"] / "innocent.gguf").symlink_to(secret)
    (roots["models"] / "linked-dir").symlink_to(roots["outside"], target_is_directory=True)
    one_message = refusal(str(secret))
    assert refusal(str(roots["media"] / "innocent.gguf")) == one_message
    assert refusal(str(roots["models"] / "linked-dir" / "secret.env")) == one_message
    assert refusal(f"{roots['media']}/../outside/secret.env") == one_message
    assert "secret" not in one_message


def test_an_existing_and_a_missing_path_get_the_same_answer(roots):
    assert refusal("/etc/passwd") == refusal("/nonexistent/at/all") == refusal("~/.ssh/id_rsa")
    assert refusal(str(roots["outside"] / "secret.env")) == refusal(str(roots["outside"] / "missing.env"))


@pytest.mark.parametrize(
    ("value", "is_path"),
    [
        ("llama3.2:1b", False),
        ("library/llama3:8b", False),
        ("hf.co/bartowski/Qwen2.5-0.5B-GGUF:Q4_K_M", False),
        ("Qwen/Qwen2.5-0.5B-Instruct", False),
        ("/models/x", True),
        ("./x", True),
        (".hidden", True),
        ("~/models", True),
        ("../../etc/passwd", True),
        ("models/../../etc", True),
        ("grader.gguf", True),
        ("a/b/c/d", True),
    ],
)
def test_names_are_names_and_anything_path_like_is_a_path(value, is_path):
    assert looks_like_path(value) is is_path


def post(client, url: str, body: dict):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_a_modelfile_cannot_name_a_file_outside_the_folders(api_client, roots):
    answers = []
    for base in ("/etc/shadow", "/nonexistent", str(roots["outside"] / "secret.env"), "../../etc/passwd"):
        response = post(api_client, "/api/v1/modelfiles", {"name": "grader:v1", "from": base})
        assert response.status_code == 422 and response.json()["field"] == "base", response.content
        answers.append(response.json()["detail"])
    assert len(set(answers)) == 1
    adapter = post(
        api_client, "/api/v1/modelfiles", {"name": "grader:v1", "from": "llama3.2:1b", "adapter": "/etc/passwd"}
    )
    assert adapter.status_code == 422 and adapter.json()["detail"] == answers[0].replace("base", "adapter", 1)

    inside = roots["models"] / "grader.gguf"
    inside.write_bytes(b"GGUF")
    created = post(api_client, "/api/v1/modelfiles", {"name": "grader:v1", "from": str(inside)})
    assert created.status_code == 201 and created.json()["base"] == str(inside)


def test_a_comparison_ref_that_is_a_path_must_be_an_allowed_gguf_file(roots):
    with pytest.raises(InvalidInput, match="must lie inside"):
        model_reference_resolve(ref="/etc/passwd")
    with pytest.raises(InvalidInput, match="must lie inside"):
        model_reference_resolve(ref="../../etc/passwd")
    gguf = roots["runs"] / "run-1" / "model.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    reference = model_reference_resolve(ref=str(gguf))
    assert (reference.backend, reference.gguf_path) == ("gguf", str(gguf))
    with pytest.raises(InvalidInput, match="GGUF file"):
        model_reference_resolve(ref=str(roots["runs"] / "run-1" / "missing.gguf"))


def test_a_fine_tune_base_outside_the_folders_is_refused(roots):
    from training.services.finetune import _base_model_check

    with pytest.raises(InvalidInput, match="must lie inside"):
        _base_model_check(str(roots["outside"]))
    with pytest.raises(InvalidInput, match="does not exist in the allowed"):
        _base_model_check(str(roots["models"] / "missing"))
    checkpoint = roots["models"] / "base"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    assert _base_model_check(str(checkpoint)) == str(checkpoint)
