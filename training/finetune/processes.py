"""Which process writes when one run trains in several: `accelerate launch` (or torchrun) on a multi-GPU box.

Every process trains its share of each batch (the trainer's data-parallel wrapping); only the main process
(global rank 0) creates and claims the run's row, builds a tiny base, writes progress, the merged model, the
GGUF file, the Modelfile and the version. The others learn the run's id and the tiny base's folder from it
(`share_from_main`) and write nothing. A single process — a Celery worker, a plain `manage.py finetune` —
never initialises torch.distributed: the checks read the launcher's environment (RANK, WORLD_SIZE) first.
"""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    """Processes training this run: WORLD_SIZE as torchrun and `accelerate launch` set it, else 1."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main_process() -> bool:
    if world_size() == 1:
        return True
    return _state().is_main_process


def _state() -> Any:
    """accelerate's process state, on the CPU when there is no GPU (as the trainer's own `use_cpu` sets it:
    the state is shared, and the first one created decides the backend)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def share_from_main(value: Any) -> Any:
    """`value` as the main process gave it, in every process (a broadcast); `value` itself in a single one.
    Every process must call it at the same point."""
    if world_size() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    _state()
    return broadcast_object_list([value])[0]
