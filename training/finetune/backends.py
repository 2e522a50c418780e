"""Training backends: TRL (+ PEFT) everywhere, Unsloth on a CUDA GPU with the `unsloth` package.

The check runs when a run is created, so a backend that cannot run here is refused before anything is stored
or loaded. Imports torch only inside the check.
"""

from __future__ import annotations

import importlib.util

BACKENDS = ("trl", "unsloth")


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
    # Unsloth's patched trainer is not wired into the pipeline yet: say so rather than train with TRL silently.
    return "The Unsloth backend is not available in this version yet: use --backend trl (the default)."
