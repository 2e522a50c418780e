"""What a run trained on and how fast: the device, GPU(s) and precision when training starts; tokens per second
and peak memory when it ends. The run, its row and `benchmarks/finetune.py` all measure through here.

Tokens per second counts the non-padding tokens the trainer processed (prompt and completion: the attention
mask's sum, which TRL gathers over every process) over the training loop's time alone: no set-up, no merge,
no GGUF. Peak memory is the GPU allocator's peak on a GPU (this process's device, reset when training
starts); on a CPU it is the process's peak resident set size since the process started (the OS keeps no
other), so in a long-lived worker it may be an earlier run's. Imports torch inside the functions.
"""

from __future__ import annotations

import resource
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

PEAK_GPU = "GPU allocator peak"  # torch.cuda.max_memory_allocated on this process's device
PEAK_RSS = "process peak RSS"  # resource.getrusage: the OS's high-water mark of the whole process


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # cuda | mps | cpu: where the model's weights are while it trains
    gpu_name: str  # "2 × NVIDIA H100 80GB HBM3"; "" off a GPU
    precision: str  # 4bit | bf16 | fp16 | fp32
    processes: int = 1  # data-parallel processes (accelerate launch / torchrun)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def gpu_names() -> str:
    """Every visible CUDA GPU, same models counted: '2 × NVIDIA A100-SXM4-80GB, NVIDIA L4'."""
    import torch

    if not torch.cuda.is_available():
        return ""
    names = Counter(torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count()))
    return ", ".join(name if count == 1 else f"{count} × {name}" for name, count in names.items())[:200]


def precision_of(model: Any, *, bf16: bool = False, fp16: bool = False) -> str:
    """4bit for a bitsandbytes-quantized base (QLoRA), else the mixed precision the trainer runs with, else the
    weights' own dtype."""
    if getattr(model, "is_loaded_in_4bit", False):
        return "4bit"
    if bf16:
        return "bf16"
    if fp16:
        return "fp16"
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, dtype)


def device_info(model: Any, *, bf16: bool = False, fp16: bool = False, processes: int = 1) -> DeviceInfo:
    device = next(model.parameters()).device.type
    return DeviceInfo(
        device=device,
        gpu_name=gpu_names() if device == "cuda" else "",
        precision=precision_of(model, bf16=bf16, fp16=fp16),
        processes=processes,
    )


def peak_memory_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> tuple[float, str]:
    """(megabytes, what was measured) for a run that trained on `device`."""
    if device == "cuda":
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1), PEAK_GPU
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1), PEAK_RSS


def tokens_per_second(tokens: int, seconds: float) -> float | None:
    return round(tokens / seconds, 1) if seconds > 0 and tokens > 0 else None
