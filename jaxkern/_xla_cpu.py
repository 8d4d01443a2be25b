"""A guard against an XLA:CPU deadlock, applied when `jaxkern` is imported.

With jaxlib 0.10 on a small CPU machine (2 cores here), XLA:CPU's concurrency-optimised
scheduler can deadlock a compiled program: every worker waits on a notification that never
fires, the process uses no CPU and never returns. We met it on the second call of one jitted
program that holds a softmax-Laplace Newton `while_loop`, its implicit gradient and a prediction
(`tests/gp/test_classification.py::test_multiclass_laplace_iris_against_dense_newton`); with the
scheduler off, the same program ran a dozen calls in a row. The flag only changes the order in
which XLA:CPU schedules independent operations, never what they compute.

The flag must be in `XLA_FLAGS` before the first computation creates the CPU backend, so this
runs on `import jaxkern` and does nothing when the backend already exists, when the user has set
the flag either way, or when `JAXKERN_KEEP_XLA_FLAGS=1`.
"""

from __future__ import annotations

import os

SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def _backend_exists() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # a jax that moved its internals: leave XLA_FLAGS alone
        return True
    exists = getattr(xla_bridge, "backends_are_initialized", None)
    return exists is None or exists()


def avoid_scheduler_deadlock() -> bool:
    """Switch the concurrency-optimised scheduler off if it is still possible and wanted.

    Returns whether `XLA_FLAGS` was changed.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("JAXKERN_KEEP_XLA_FLAGS") == "1" or SCHEDULER_FLAG in flags:
        return False
    if _backend_exists():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {SCHEDULER_FLAG}=false".strip()
    return True
