"""Timing, memory and result files shared by every benchmark.

Times are medians over repeats after a warm-up call; compile time is measured apart (the first
call of a fresh `jax.jit`, minus one run). The figure to quote is a ratio of two medians taken in
the same process, since absolute times on shared machines are noise.

The first call `time_call` makes must be the first call of that `jax.jit` in the process: a
benchmark that needs the result calls `timed_call`, which hands back the first call's result,
rather than calling the function once beforehand (that compiles it outside the timing and
reports a compile time of zero). `jitted.lower(...).compile()` (as in `xla_memory`) fills the
same caches, so a memory account taken before the timing needs `jax.clear_caches()` in between.
`compile_time` is JAX's own account of tracing, lowering and XLA compilation, for code (such as
a solver's Python loop over jitted chunks) that no single first call brackets.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
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


def timed_call(fn: Callable[[], Any], *, repeats: int = 5,
               warmup: int = 1) -> tuple[dict[str, float], Any]:
    """`time_call`, and the result of the first (timed) call of `fn`.

    For benchmarks that report the value as well as the time: taking the value from a call made
    before the timing would compile a fresh `jax.jit` there, and `compile_s` would read zero.
    """
    with compile_time() as jax_compile:
        start = time.perf_counter()
        result = block(fn())
        first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        block(fn())
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        block(fn())
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    median = statistics.median(times)
    return {
        "median_s": median,
        "min_s": min(times),
        # CPU time of the whole process (every thread) per call: cpu_s / median_s is how many
        # cores the call kept busy (spinning pool threads count as busy)
        "cpu_s": statistics.median(cpu),
        "first_s": first,
        "compile_s": max(first - median, 0.0),
        # JAX's own account of the first call's tracing + lowering + XLA compilation; 0 for code
        # that is not JAX or was compiled before (then compile_s is noise as well)
        "jax_compile_s": jax_compile["compile_s"],
        "repeats": repeats,
    }, result


def interleaved(fns: dict[str, Callable[[], Any]], *, rounds: int,
                calls: int | dict[str, int] = 1) -> tuple[dict[str, dict], dict[str, Any]]:
    """Time contenders in turns: each round runs `calls` (per name, or for all) calls of each.

    A burst of load on the shared machine then lands on every contender rather than on
    whichever was being timed, so the ratios hold where back-to-back timings do not. Returns,
    per name, `median_s`, `min_s`, `compile_s` (first call minus median), `jax_compile_s`
    (JAX's own account of the first call) and `repeats`; and the result of each first call.
    """
    first, jax_compile, results = {}, {}, {}
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():
        with compile_time() as account:
            start = time.perf_counter()
            results[name] = block(fn())
            first[name] = time.perf_counter() - start
        jax_compile[name] = account["compile_s"]
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(calls if isinstance(calls, int) else calls.get(name, 1)):
                start = time.perf_counter()
                block(fn())
                runs[name].append(time.perf_counter() - start)
    timings = {}
    for name, times in runs.items():
        median = statistics.median(times)
        timings[name] = {"median_s": median, "min_s": min(times),
                         "compile_s": max(first[name] - median, 0.0),
                         "jax_compile_s": jax_compile[name], "repeats": len(times)}
    return timings, results


def time_call(fn: Callable[[], Any], *, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median and minimum wall time of `fn()` over `repeats` calls after `warmup` calls.

    The first call is timed apart as `first_s` (for a fresh `jax.jit` it includes compilation);
    `compile_s` is `first_s` minus the median, `jax_compile_s` JAX's own account of the
    compilation in the first call (see `compile_time`). `cpu_s` is the median CPU time of the
    process per call, every thread counted: `cpu_s / median_s` says how many cores the call
    kept busy (below its thread count when other work shares the cores).
    """
    return timed_call(fn, repeats=repeats, warmup=warmup)[0]


_COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


@contextlib.contextmanager
def compile_time() -> Iterator[dict[str, float]]:
    """Wall time JAX spends tracing, lowering and compiling inside the `with` block.

    Yields a dict that holds, once the block exits, `compile_s` (the union of the time spans JAX
    reports through `jax.monitoring` for jaxpr tracing, MLIR lowering and XLA compilation; nested
    spans, such as an inner jit traced inside an outer one, are counted once) and
    `compilations` (XLA compilations started). Cache hits report no span.
    """
    spans: list[tuple[float, float]] = []
    backend = []

    def listen(event: str, start: float, end: float, **kwargs: Any) -> None:
        if event in _COMPILE_EVENTS:
            spans.append((start, end))
            if event == _COMPILE_EVENTS[2]:
                backend.append(end - start)

    out: dict[str, float] = {}
    jax.monitoring.register_event_time_span_listener(listen)
    try:
        yield out
    finally:
        jax.monitoring.unregister_event_time_span_listener(listen)
        total, reach = 0.0, -math.inf
        for start, end in sorted(spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        out["compile_s"] = total
        out["compilations"] = len(backend)


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
        # other work on the machine: absolute times (not the ratios) move with it
        "load_average_1_5_15_min": os.getloadavg() if hasattr(os, "getloadavg") else None,
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
