"""Command line: `python -m jaxkern tour [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _tour(outdir: Path) -> int:
    import warnings

    import jax

    from . import Float32PrecisionWarning
    from ._tour import run

    warnings.simplefilter("once", Float32PrecisionWarning)

    print(f"jaxkern tour  (jax {jax.__version__}, {jax.default_backend()}, "
          f"x64={'on' if jax.config.jax_enable_x64 else 'off'}; plots in {outdir}/)")
    header = f"{'domain':<13}{'algorithm':<34}{'problem':<44}{'error':>10}{'time':>9}"
    print(header)
    print("-" * len(header))
    failed = 0
    for domain, stop, seconds in run(outdir):
        flag = "" if stop.ok else f"  FAIL (tolerance {stop.tolerance:.1e})"
        failed += not stop.ok
        print(f"{domain:<13}{stop.algorithm:<34}{stop.problem:<44}"
              f"{stop.error:>10.2e}{seconds:>8.2f}s{flag}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxkern")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run every algorithm on a small problem with a known answer")
    tour.add_argument("--out", type=Path, default=Path("jaxkern-tour"), help="folder for plots")
    args = parser.parse_args(argv)
    if args.command == "tour":
        return _tour(args.out)
    return 2


if __name__ == "__main__":
    sys.exit(main())
