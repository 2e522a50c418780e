"""Base models from the Hugging Face hub: `org/name` or `org/name@revision`, fetched into the local HF cache.

A run names its base by hub id; `hub_snapshot` resolves it through `huggingface_hub.snapshot_download` (only
the files a fine-tune reads: config, tokenizer, safetensors weights, generation settings) and returns the
snapshot folder, which training then loads with `local_files_only`. The service calls it before it stores a
run, so a base that cannot be had is refused with the reason, and again where the run executes (a worker on
another machine fetches it there; on the same machine it is a cache hit).

`huggingface_hub` reads HF_HUB_OFFLINE, HF_HOME and HF_ENDPOINT once, when it is first imported; this module
reads them at each call, so a setting changed in a running process (a test, a shell that exported it after
Django started) is honoured too. No torch here: the service imports this module while checking input.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ready4hire.paths import MODEL_FILE_SUFFIXES

from .errors import FineTuneError

# What a fine-tune reads from a base: nothing else is downloaded (no .bin/.pt/.gguf/onnx copies of the weights).
ALLOW_PATTERNS = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "*.safetensors",
    "model.safetensors.index.json",
]
# The hub's own rule for repo ids: org/name, letters, digits, '-', '_' and '.', no '--' or '..', ≤ 96 each.
_PART = r"[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"^(?P<repo>{_PART}/{_PART})(?:@(?P<revision>[\w][\w./-]{{0,199}}))?$")
DEFAULT_ENDPOINT = "https://huggingface.co"


class HubBaseError(FineTuneError):
    """A hub base that cannot be had here: the message says why and what to do."""


@dataclass(frozen=True)
class HubId:
    repo: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{self.repo}@{self.revision}" if self.revision else self.repo


def parse_hub_id(value: str) -> HubId | None:
    """`org/name` or `org/name@revision` as a HubId; None for anything else (a path, a bare name)."""
    match = _HUB_ID.match(value.strip())
    if match is None or "--" in match["repo"] or ".." in match["repo"]:
        return None
    if match["repo"].lower().endswith(MODEL_FILE_SUFFIXES):  # "models/grader.gguf" names a file
        return None
    return HubId(repo=match["repo"], revision=match["revision"])


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) as set now, or as it was when huggingface_hub was imported."""
    from huggingface_hub import constants

    now = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return _truthy(now) if now is not None else bool(constants.HF_HUB_OFFLINE)


def hub_home() -> str:
    """HF_HOME as the hub library computes it (~/.cache/huggingface unless set), read now."""
    from huggingface_hub import constants

    home = os.environ.get("HF_HOME")
    return os.path.expanduser(os.path.expandvars(home)) if home else constants.HF_HOME


def hub_cache() -> str:
    """The hub cache folder: HF_HUB_CACHE, else HF_HOME/hub, read now."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.path.expandvars(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        return os.path.join(hub_home(), "hub")
    return constants.HF_HUB_CACHE


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT or DEFAULT_ENDPOINT).rstrip("/")


def _host(endpoint: str) -> str:
    return urlsplit(endpoint).netloc or endpoint


def _reason(error: BaseException) -> str:
    """The network error underneath huggingface_hub's wrapper, in one line."""
    cause = error.__cause__ or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__


def hub_snapshot(hub_id: HubId) -> Path:
    """The local folder of `hub_id` in the HF cache, downloading what is missing unless HF_HUB_OFFLINE is set.

    HubBaseError with a message a person can act on when it can't be had: offline and not cached, no such
    repo or revision, gated, the hub unreachable, or not a safetensors checkpoint.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline, endpoint = hub_offline(), hub_endpoint()
    try:
        folder = snapshot_download(
            hub_id.repo,
            revision=hub_id.revision,
            cache_dir=hub_cache(),
            endpoint=endpoint,
            local_files_only=offline,
            allow_patterns=ALLOW_PATTERNS,
        )
    except GatedRepoError:
        raise HubBaseError(
            f"{hub_id.repo} is gated on the hub: accept its licence on its model page and set HF_TOKEN (a token "
            "of the account that accepted it), or download it elsewhere and give the folder."
        ) from None
    except RepositoryNotFoundError:
        raise HubBaseError(
            f"{hub_id.repo} does not exist on the hub ({_host(endpoint)}), or it is private and HF_TOKEN does not "
            "give access to it."
        ) from None
    except RevisionNotFoundError:
        raise HubBaseError(f"{hub_id.repo} has no revision {hub_id.revision!r} on the hub.") from None
    except LocalEntryNotFoundError as exc:
        if offline:
            raise HubBaseError(
                f"HF_HUB_OFFLINE is set and {hub_id} is not in the cache at HF_HOME={hub_home()}: download it where "
                f"the hub is reachable (hf download {hub_id.repo}), or unset HF_HUB_OFFLINE."
            ) from None
        raise HubBaseError(
            f"cannot reach {_host(endpoint)}: {_reason(exc)}; and {hub_id} is not in the local cache at "
            f"HF_HOME={hub_home()}."
        ) from None
    except HfHubHTTPError as exc:  # the hub answered, with an error that is not about this repo (5xx, 429)
        raise HubBaseError(f"cannot reach {_host(endpoint)}: {_reason(exc)}") from None
    except OSError as exc:  # a connection dropped mid-download, a full disk
        raise HubBaseError(f"cannot fetch {hub_id} from {_host(endpoint)}: {_reason(exc)}") from None
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise HubBaseError(f"{hub_id} has no config.json: not a transformers checkpoint.")
    if not any(path.glob("*.safetensors")):
        raise HubBaseError(
            f"{hub_id} has no safetensors weights (only these are fetched): choose a repo that publishes "
            "model.safetensors, or convert it and give the folder."
        )
    return path
