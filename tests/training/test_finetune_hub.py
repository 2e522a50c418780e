"""Bases named by Hugging Face hub id (issue 15): resolved into the HF cache before a run is stored, trained
from the cache offline, and refused with the reason (offline and not cached, no such repo, hub unreachable)
before any row or version exists. Nothing here downloads from the internet: the cache is written by hand in
huggingface_hub's layout, and the hub is a loopback HTTP server reached through HF_ENDPOINT (this module's
hub code reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE at each call, so the tests set them in-process)."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ready4hire.errors import InvalidInput
from training.finetune.deps import missing_train_packages
from training.finetune.synthetic import synthetic_examples, synthetic_export_create
from training.models import FineTuneRun, JobStatus, ModelVersion
from training.services.finetune import finetune_run_create, finetune_run_execute

from ..conftest import service_missing

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

API = "/api/v1/finetune-runs"
REPO = "r4h-tests/tiny-grader"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def examples():
    return [example for example in synthetic_examples(subsets=0) if example[0].language == "en"][:10]


@pytest.fixture
def export(examples):
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")
    return synthetic_export_create(examples=examples, val_count=2)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, examples) -> Path:
    """A real (tiny, random) Llama checkpoint: safetensors, config, tokenizer with a chat template."""
    if missing_train_packages():
        service_missing("needs the [train] extra: pip install -e '.[train]'")
    from training.finetune.tiny import TinyShape, create_tiny_base

    texts = [request.answer for request, _ in examples] + [json.dumps(label) for _, label in examples]
    return create_tiny_base(
        texts, tmp_path_factory.mktemp("tiny") / "checkpoint", shape=TinyShape(vocab_size=512), seed=0
    )


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    """An empty HF_HOME of this test's own, offline unless a test says otherwise."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


class _Hub(BaseHTTPRequestHandler):
    """The hub's answer for a repo that does not exist (what huggingface.co sends: 404 + X-Error-Code)."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        body = b'{"error": "Repository not found"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


class _ServedRepo(BaseHTTPRequestHandler):
    """A hub serving one repo at COMMIT: its revision info, its file tree, and each file (HEAD and GET) with
    the headers huggingface_hub reads (X-Repo-Commit, ETag, Content-Length)."""

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        files: dict[str, bytes] = self.server.files
        path = self.path.split("?")[0]
        if path.startswith(f"/api/models/{REPO}/revision/"):
            info = {"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": name} for name in files]}
            return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
        if path.startswith(f"/api/models/{REPO}/tree/{COMMIT}"):
            tree = [
                {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in files.items()
            ]
            return self._send(200, json.dumps(tree).encode(), {"Content-Type": "application/json"})
        prefix = f"/{REPO}/resolve/{COMMIT}/"
        if path.startswith(prefix) and path[len(prefix) :] in files:
            data = files[path[len(prefix) :]]
            etag = f'"{hashlib.sha1(data).hexdigest()}"'
            return self._send(200, data, {"X-Repo-Commit": COMMIT, "ETag": etag})
        return self._send(404, b"{}", {"X-Error-Code": "RepoNotFound"})

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler], monkeypatch, *, offline: bool = False, **attributes):
    """A loopback hub as HF_ENDPOINT, online unless `offline` (then any request it gets is a bug)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.paths = []
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if not offline:
        monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    return server


def test_a_hub_base_is_downloaded_before_the_run_is_stored(hf_home, tiny_checkpoint, export, monkeypatch):
    files = {path.name: path.read_bytes() for path in tiny_checkpoint.iterdir() if path.is_file()}
    files |= {"pytorch_model.bin": b"weights in pickle form", "README.md": b"# tiny", "model.gguf": b"GGUF"}
    server = _serve(_ServedRepo, monkeypatch, files=files)
    try:
        run = finetune_run_create(dataset_export_id=export.pk, base_model=REPO, method="lora")
    finally:
        server.shutdown()
        server.server_close()

    assert run.base_model == f"{REPO}@{COMMIT}"
    snapshot = hf_home / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    fetched = sorted(path.name for path in snapshot.iterdir())
    assert "model.safetensors" in fetched and "config.json" in fetched and "tokenizer.json" in fetched
    # Only what a fine-tune reads: no pickled weights, no GGUF, no README.
    assert not {"pytorch_model.bin", "README.md", "model.gguf"} & set(fetched)
    assert not any(path.endswith(("pytorch_model.bin", "model.gguf")) for path in server.paths)


def _cache(hf_home: Path, checkpoint: Path) -> Path:
    """`checkpoint` laid out as huggingface_hub's cache holds REPO at main: refs/main → snapshots/<commit>."""
    repo_dir = hf_home / "hub" / f"models--{REPO.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    snapshot = repo_dir / "snapshots" / COMMIT
    shutil.copytree(checkpoint, snapshot)
    return snapshot


def test_a_hub_base_in_the_cache_trains_offline_and_is_stored_pinned(hf_home, tiny_checkpoint, export, monkeypatch):
    snapshot = _cache(hf_home, tiny_checkpoint)
    hub = _serve(_Hub, monkeypatch, offline=True)  # answers "no such repo": reaching it would fail the run

    run = finetune_run_create(
        dataset_export_id=export.pk,
        base_model=REPO,
        method="lora",
        hyperparameters={"max_steps": 2, "max_length": 4096, "lora_r": 4, "lora_alpha": 8},
    )
    # The id is stored pinned to the commit it resolved to, so every process trains the same snapshot.
    assert run.base_model == f"{REPO}@{COMMIT}"

    done = finetune_run_execute(run_id=run.pk)

    assert done.status == JobStatus.DONE, done.error
    assert f"from the Hugging Face cache: {snapshot}" in done.log
    version = ModelVersion.objects.get(run=done)
    assert version.base_model == f"{REPO}@{COMMIT}" and Path(version.gguf_path).is_file()
    adapter_config = json.loads((Path(done.outputs["adapter"]) / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(snapshot)
    assert hub.paths == []  # offline: the cache alone
    hub.shutdown()
    hub.server_close()


def test_a_revision_can_be_named(hf_home, tiny_checkpoint, export):
    _cache(hf_home, tiny_checkpoint)

    run = finetune_run_create(dataset_export_id=export.pk, base_model=f"{REPO}@{COMMIT}")

    assert run.base_model == f"{REPO}@{COMMIT}" and run.method == "lora"


def test_offline_and_not_in_the_cache_is_refused_by_the_command_and_the_api(hf_home, export, api_client, monkeypatch):
    hub = _serve(_Hub, monkeypatch, offline=True)
    with pytest.raises(CommandError) as error:
        call_command("finetune", "--dataset", str(export.pk), "--base", "r4h-tests/never-downloaded", "--no-progress")

    message = str(error.value)
    assert "HF_HUB_OFFLINE is set and r4h-tests/never-downloaded is not in the cache" in message
    assert f"HF_HOME={hf_home}" in message

    response = api_client.post(
        API,
        data=json.dumps({"dataset_export_id": export.pk, "base_model": "r4h-tests/never-downloaded@v2"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["field"] == "base_model"
    assert "r4h-tests/never-downloaded@v2 is not in the cache" in response.json()["detail"]
    assert not FineTuneRun.objects.exists() and not ModelVersion.objects.exists()
    assert hub.paths == []
    hub.shutdown()
    hub.server_close()


@pytest.mark.parametrize(
    "base",
    ["llama3", "org/name/extra", "org/na--me", "models/grader.gguf"],
)
def test_a_value_that_is_neither_a_folder_nor_a_hub_id_gets_its_own_error(hf_home, export, base):
    with pytest.raises(InvalidInput) as error:
        finetune_run_create(dataset_export_id=export.pk, base_model=base)

    assert error.value.field == "base_model"
    if base.endswith(".gguf"):  # a file name is a path, confined like any other
        assert "must lie inside" in str(error.value)
    else:
        assert "neither a model folder" in str(error.value) and "org/name" in str(error.value)
    assert not FineTuneRun.objects.exists()


@pytest.fixture
def loopback_hub(hf_home, monkeypatch):
    server = _serve(_Hub, monkeypatch)
    yield server
    server.shutdown()
    server.server_close()


def test_a_repo_the_hub_does_not_have_is_refused(loopback_hub, export, api_client):
    response = api_client.post(
        API,
        data=json.dumps({"dataset_export_id": export.pk, "base_model": "r4h-tests/no-such-model"}),
        content_type="application/json",
    )

    assert response.status_code == 422, response.content
    assert response.json()["field"] == "base_model"
    assert "r4h-tests/no-such-model does not exist on the hub" in response.json()["detail"]
    assert loopback_hub.paths and loopback_hub.paths[0].startswith("/api/models/r4h-tests/no-such-model")
    assert not FineTuneRun.objects.exists()


def test_an_unreachable_hub_is_refused_with_the_reason(hf_home, export, monkeypatch):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")

    with pytest.raises(CommandError) as error:
        call_command("finetune", "--dataset", str(export.pk), "--base", REPO, "--no-progress")

    assert f"cannot reach 127.0.0.1:{port}: ConnectError" in str(error.value)
    assert f"{REPO} is not in the local cache at HF_HOME={hf_home}" in str(error.value)
    assert not FineTuneRun.objects.exists()
