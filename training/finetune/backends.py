"""Training backends: TRL (+ PEFT) everywhere, Unsloth on one CUDA GPU with the `unsloth` package.

The checks run when a run is created, so a backend that cannot run here, or cannot train the run's method,
is refused before anything is stored or loaded. Imports torch only inside the check, and never Unsloth
(importing it patches transformers, TRL and PEFT: the pipeline does that when an Unsloth run trains).
"""

from __future__ import annotations

import importlib.util

from .processes import world_size

BACKENDS = ("trl", "unsloth")
UNSLOTH_METHODS = ("lora", "qlora")


def backend_unavailable_reason(backend: str) -> str:
    """Why `backend` cannot train here ('' when it can)."""
    if backend not in BACKENDS:
        return f"backend must be one of {', '.join(BACKENDS)}."
    if backend == "trl":
        return ""
    import torch

    if not torch.cuda.is_available():
        return "The Unsloth backend needs a CUDA GPU, and this machine has none: use --backend trl (the default)."
    if importlib.util.find_spec("unsloth") is None:
        return "The Unsloth backend needs the unsloth package: pip install unsloth (on the CUDA machine)."
    if world_size() > 1:
        return "The Unsloth backend trains on one GPU: run it without accelerate launch, or use --backend trl."
    return ""


def backend_method_reason(backend: str, method: str) -> str:
    """Why `backend` cannot train with `method` ('' when it can): Unsloth is wired in for LoRA and QLoRA."""
    if backend == "unsloth" and method not in UNSLOTH_METHODS:
        return (
            f"The Unsloth backend trains {' and '.join(UNSLOTH_METHODS)} here, not {method}: use --backend trl for it."
        )
    return ""
