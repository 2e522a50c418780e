"""Where files named by a caller may lie: every path that comes through the API, the admin or a scheduled job
(a Modelfile's FROM and ADAPTER, a fine-tune run's base model, a comparison's GGUF file) must resolve inside
MEDIA_ROOT, the fine-tune output folder or a folder in ALLOWED_MODEL_DIRS.

Anything else is refused with one message, whether or not the path exists: answering "no such file" for
/nonexistent but something else for /etc/shadow would tell a caller what the server holds.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from .errors import InvalidInput

MODEL_FILE_SUFFIXES = (".gguf", ".safetensors", ".bin")
# A model name may have a host or namespace ("library/llama3", "hf.co/org/model:q4", "Qwen/Qwen2.5-0.5B"):
# every segment starts with a letter or digit, so no segment can be "." or "..".
_NAMESPACED_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*){0,2}(?::[\w.-]{1,80})?$")


def allowed_model_roots() -> list[Path]:
    """The folders caller-named paths must lie in, resolved (MEDIA_ROOT itself may be a symlink)."""
    output_root = settings.FINETUNE_OUTPUT_ROOT or Path(settings.MEDIA_ROOT) / "finetune"
    roots = [settings.MEDIA_ROOT, output_root, *settings.ALLOWED_MODEL_DIRS]
    return [Path(root).expanduser().resolve() for root in roots if str(root).strip()]


def looks_like_path(value: str) -> bool:
    """Whether `value` names a file rather than a model: absolute, relative (`.`), home (`~`), a model file's
    suffix, or slashes that no model name has. Such a value is always treated as a path, never as a name."""
    value = value.strip()
    if value.startswith(("/", ".", "~")) or "\\" in value or "\0" in value:
        return True
    if value.lower().endswith(MODEL_FILE_SUFFIXES):
        return True
    return "/" in value and not _NAMESPACED_NAME.match(value)


def path_refused(field: str) -> InvalidInput:
    """The one answer for a path outside the allowed folders, existing or not."""
    return InvalidInput(
        f"{field}: paths must lie inside MEDIA_ROOT, the fine-tune output folder or a folder listed in "
        "ALLOWED_MODEL_DIRS.",
        field=field,
    )


def path_confine(value: str | Path, *, field: str, base_dir: Path | None = None) -> Path:
    """`value` as an absolute path, after `~`, `..` and symlinks, when it lies inside an allowed folder;
    InvalidInput (the same message whether the path exists or not) otherwise. A relative path is taken from
    `base_dir` (e.g. a Modelfile's folder), else from the working directory."""
    text = str(value).strip()
    if not text or "\0" in text:
        raise path_refused(field)
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop, a name too long: refused like any other bad path
        raise path_refused(field) from None
    if not any(resolved.is_relative_to(root) for root in allowed_model_roots()):
        raise path_refused(field)
    return resolved
