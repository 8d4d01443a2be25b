"""Benchmarks: jaxkern against its peers, side by side in one process. See `run.py`."""
