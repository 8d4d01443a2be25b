"""Timing, memory and result files shared by every benchmark.

Times are medians over repeats after a warm-up call; compile time is measured apart (the first
call of a fresh `jax.jit`, minus one run). The figure to quote is a ratio of two medians taken in
the same process, since absolute times on shared machines are noise.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

RESULTS = Path(__file__).parent / "results"


def block(x: Any) -> Any:
    """Wait for every array in a pytree (jax or torch) to be computed."""
    for leaf in jax.tree.leaves(x):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return x


def time_call(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median and minimum wall time of `fn()` over `repeats` calls after `warmup` calls.

    The first call is timed apart as `first_s` (for a fresh `jax.jit` it includes compilation).
    """
    start = time.perf_counter()
    block(fn())
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        block(fn())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(fn())
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {
        "median_s": median,
        "min_s": min(times),
        "first_s": first,
        "compile_s": max(first - median, 0.0),
        "repeats": repeats,
    }


def xla_memory(jitted: Any, *args: Any) -> dict[str, float]:
    """XLA's own account of a compiled function's memory: arguments, outputs and temporaries (MB).

    Deterministic and free of allocator noise; `peak_mb` is their sum, an upper bound on what the
    computation holds at once.
    """
    stats = jitted.lower(*args).compile().memory_analysis()
    mb = 1024.0**2
    out = {
        "argument_mb": stats.argument_size_in_bytes / mb,
        "output_mb": stats.output_size_in_bytes / mb,
        "temp_mb": stats.temp_size_in_bytes / mb,
    }
    out["peak_mb"] = out["argument_mb"] + out["output_mb"] + out["temp_mb"]
    return out


def ratio(slow: dict[str, float], fast: dict[str, float]) -> float:
    """How many times faster `fast` is than `slow`, by median."""
    return slow["median_s"] / fast["median_s"]


def machine() -> dict[str, Any]:
    """Where the numbers came from."""
    return {
        "date": datetime.date.today().isoformat(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "x64": bool(jax.config.jax_enable_x64),
    }


def write(name: str, payload: dict[str, Any], *, quick: bool) -> Path:
    """Write `payload` with machine info to `results/NAME.json` (`results/quick/` for --quick)."""
    folder = RESULTS / "quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "quick": quick, "machine": machine(),
                                **payload}, indent=2, default=float) + "\n")
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of `rows`, for the console and the docs."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
