"""Run benchmarks: `python -m benchmarks.run [NAME ...] [--quick]`.

Every module `benchmarks/bench_NAME.py` defines `run(quick: bool) -> dict` and is found by its
name. `--quick` runs small sizes (as CI does, so the scripts cannot rot) and writes to
`benchmarks/results/quick/`; full runs write `benchmarks/results/NAME.json`.

Each benchmark runs in a child process of its own, so that one benchmark's JAX settings (a
benchmark may switch on float64) and memory high-water mark never leak into the next.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

from . import _harness


def available() -> list[str]:
    folder = Path(__file__).parent
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(folder)])
        if info.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {available()}")
    parser.add_argument("--quick", action="store_true", help="small sizes, as in CI")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {available()}")
    if args.in_process:
        for name in names:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            payload = module.run(quick=args.quick)
            path = _harness.write(name, payload, quick=args.quick)
            print(f"   wrote {path}", flush=True)
        return 0
    failed = []
    for name in names:
        start = time.perf_counter()
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        child = [sys.executable, "-m", "benchmarks.run", name, "--in-process"]
        code = subprocess.call(child + (["--quick"] if args.quick else []))
        print(f"   {name}: {'ok' if code == 0 else f'FAILED ({code})'} in "
              f"{time.perf_counter() - start:.1f}s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
