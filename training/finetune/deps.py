"""Whether the optional extras are installed, found without importing them (torch alone takes seconds)."""

from __future__ import annotations

import importlib.util

TRAIN_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "huggingface_hub",
    "datasets",
    "gguf",
    "tokenizers",
    "safetensors",
)
TRAIN_INSTALL = "pip install -e '.[train]'"
SERVE_INSTALL = "pip install -e '.[serve]'"


def missing_packages(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if importlib.util.find_spec(name) is None]


def missing_train_packages() -> list[str]:
    return missing_packages(TRAIN_PACKAGES)


def train_extra_message(missing: list[str]) -> str:
    return f"Fine-tuning needs the [train] extra (missing: {', '.join(missing)}). Install it with: {TRAIN_INSTALL}"
