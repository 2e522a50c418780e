"""Managing models on an Ollama server: list, show, delete, upload blobs and create models.

Follows Ollama's REST API (`docs/api.md`): blobs are addressed by `sha256:<hex>` digests, `HEAD` tells whether
the server already has one and `POST` uploads it (201 Created; 400 when the bytes do not match the digest);
`POST /api/create` takes the current JSON form (`model`, `from`, `files`, `adapters`, `system`, `template`,
`parameters`, `messages`, `license`) instead of Modelfile text, so files must be uploaded as blobs first.

Like the chat clients it knows nothing of the ORM or of settings, takes an optional `httpx.Client`, and
retries transport errors and 5xx answers with backoff (it is an `OllamaClient`, so `health()` works too).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .clients import LLMResponseError, OllamaClient

CHUNK_SIZE = 1024 * 1024
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ModelNotFound(LLMResponseError):
    """The server has no model by that name (HTTP 404)."""


@dataclass(frozen=True)
class OllamaModel:
    name: str
    size: int
    digest: str
    modified_at: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobUpload:
    digest: str
    size: int
    uploaded: bool  # False when the server already had it (HEAD answered 200)


def file_digest(path: Path, *, chunk_size: int = CHUNK_SIZE) -> str:
    """The digest Ollama names a blob by: `sha256:` and the hex SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


class _FileBody:
    """The file's bytes in chunks. Iterable rather than an iterator, so a retried request reads it afresh."""

    def __init__(self, path: Path, size: int, on_sent: Callable[[int], None] | None) -> None:
        self.path = path
        self.size = size
        self.on_sent = on_sent

    # httpx sizes an iterable body with tell() and seek(0, SEEK_END), as it does an io.BytesIO: answering them
    # sends a Content-Length, like `curl -T`, instead of a chunked body.
    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self.size if whence == os.SEEK_END else 0

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        with self.path.open("rb") as stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk
                sent += len(chunk)
                if self.on_sent:
                    self.on_sent(sent)


def _error_text(response: httpx.Response) -> str:
    """Ollama's `{"error": "..."}` message when there is one, else the start of the body."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return response.text[:300]


class OllamaAdminClient(OllamaClient):
    """Model management on one Ollama server. `model` is unused here; it defaults to empty."""

    def __init__(self, *, base_url: str, model: str = "", **kwargs: Any) -> None:
        super().__init__(base_url=base_url, model=model, **kwargs)

    def _checked(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code == 404:
            raise ModelNotFound(f"{what}: {_error_text(response)}")
        if response.status_code >= 400:
            raise LLMResponseError(f"{what} failed with HTTP {response.status_code}: {_error_text(response)}")
        return response

    def list_models(self) -> list[OllamaModel]:
        response, _ = self._request("GET", "/api/tags")
        data = self._json(self._checked(response, "listing models"), "GET /api/tags")
        try:
            return [
                OllamaModel(
                    name=str(item["name"]),
                    size=int(item.get("size") or 0),
                    digest=str(item.get("digest") or ""),
                    modified_at=str(item.get("modified_at") or ""),
                    details=dict(item.get("details") or {}),
                )
                for item in data["models"]
            ]
        except (KeyError, TypeError, ValueError):
            raise LLMResponseError("GET /api/tags answered with an unexpected model list") from None

    def show(self, name: str) -> dict[str, Any]:
        """Modelfile, parameters, template, system, license, details… of one model; `ModelNotFound` if absent."""
        response, _ = self._request("POST", "/api/show", json={"model": name})
        return self._json(self._checked(response, f"showing model {name!r}"), "POST /api/show")

    def delete(self, name: str) -> None:
        response, _ = self._request("DELETE", "/api/delete", json={"model": name})
        self._checked(response, f"deleting model {name!r}")

    def blob_exists(self, digest: str) -> bool:
        if not _DIGEST.match(digest):
            raise ValueError(f"not a blob digest: {digest!r} (expected sha256:<64 hex digits>)")
        response, _ = self._request("HEAD", f"/api/blobs/{digest}")
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise LLMResponseError(f"HEAD /api/blobs/{digest} answered HTTP {response.status_code}")

    def push_blob(
        self, path: Path, *, digest: str | None = None, on_progress: Callable[[int], None] | None = None
    ) -> BlobUpload:
        """Upload a file as a blob unless the server has it already; `on_progress(bytes sent)` follows the upload."""
        path = Path(path)
        size = path.stat().st_size
        digest = digest or file_digest(path)
        if self.blob_exists(digest):
            return BlobUpload(digest=digest, size=size, uploaded=False)
        response, _ = self._request("POST", f"/api/blobs/{digest}", content=_FileBody(path, size, on_progress))
        self._checked(response, f"uploading {path.name} as {digest}")
        return BlobUpload(digest=digest, size=size, uploaded=True)

    def create(
        self,
        *,
        model: str,
        from_: str | None = None,
        files: dict[str, str] | None = None,
        adapters: dict[str, str] | None = None,
        system: str | None = None,
        template: str | None = None,
        parameters: dict[str, Any] | None = None,
        messages: list[dict[str, str]] | None = None,
        license: str | list[str] | None = None,
        quantize: str | None = None,
    ) -> dict[str, Any]:
        """`POST /api/create` (not streamed). `files`/`adapters` map file names to digests already uploaded."""
        optional = {
            "from": from_,
            "files": files,
            "adapters": adapters,
            "system": system,
            "template": template,
            "parameters": parameters,
            "messages": messages,
            "license": license,
            "quantize": quantize,
        }
        body = {"model": model, **{key: value for key, value in optional.items() if value}, "stream": False}
        response, _ = self._request("POST", "/api/create", json=body)
        data = self._json(self._checked(response, f"creating model {model!r}"), "POST /api/create")
        if data.get("error"):
            raise LLMResponseError(f"creating model {model!r} failed: {data['error']}")
        return data
