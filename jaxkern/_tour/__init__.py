"""`python -m jaxkern tour`: every algorithm on a small problem with a known answer.

Each domain adds one module to this package. A module defines `ORDER` (an int that places it
in the tour) and `stops(outdir) -> list[Stop]`: each stop solves one embedded problem, compares
with its known answer, and may save plots under `outdir`. The tour discovers the modules, so
adding a domain touches no other file.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple


class Stop(NamedTuple):
    """One line of the tour: what ran, on what, how far from the known answer."""

    algorithm: str
    problem: str
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)


def timed(fn: Callable[[], Stop]) -> tuple[Stop, float]:
    """Run one stop and return it with its wall time in seconds."""
    start = time.perf_counter()
    stop = fn()
    return stop, time.perf_counter() - start


def _modules() -> list:
    mods = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted(mods, key=lambda m: (m.ORDER, m.__name__))


def run(outdir: Path) -> Iterator[tuple[str, Stop, float]]:
    """Yield (domain, stop, seconds) for every stop of every domain, in tour order."""
    outdir.mkdir(parents=True, exist_ok=True)
    for module in _modules():
        domain = module.__name__.rsplit(".", 1)[-1]
        for stop_fn in module.stops(outdir):
            stop, seconds = timed(stop_fn)
            yield domain, stop, seconds


def dtype_tol(x, tol64: float, tol32: float) -> float:
    """The tolerance for `x`'s dtype (`x` an array or a dtype): `tol64` in float64, else `tol32`."""
    dtype = getattr(x, "dtype", x)
    return tol64 if dtype == "float64" else tol32


def plotting():
    """matplotlib.pyplot with a file-only backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
