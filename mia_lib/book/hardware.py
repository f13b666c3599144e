"""The machine a notebook ran on, as recorded in its ``metadata["mia_lib"]``: torch device, CPU, GPU and versions,
without the hostname."""

from __future__ import annotations

import os
import platform
from typing import Any


def _cpu_model() -> str | None:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else ``platform.processor()`` or None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split()) or None
    except OSError:
        pass
    return platform.processor() or None


def _hardware() -> tuple[str, dict[str, Any]]:
    """(torch device, hostname-free hardware description).

    The device is ``"cuda"`` when torch sees a CUDA GPU, else ``"cpu"``; the description has ``cpu_count``,
    ``machine``, ``system``, ``python``, ``cpu_model``, ``gpu`` (None without one), ``torch`` and, with a GPU,
    ``gpu_count``.
    """
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "gpu": None,
    }
    device = "cpu"
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            device = "cuda"
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except Exception as exc:  # pragma: no cover - torch is a hard dependency
        info["torch"] = f"unavailable ({type(exc).__name__})"
    return device, info
