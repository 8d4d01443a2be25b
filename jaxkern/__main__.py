"""Command line: `python -m jaxkern tour [--out DIR] [--x64]`."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

#: Column widths of the tour table; longer cells are cut with an ellipsis to keep it aligned.
_WIDTHS = {"domain": 13, "algorithm": 34, "problem": 46}


def _cell(text: str, width: int) -> str:
    text = text if len(text) < width else text[: width - 2] + "…"
    return f"{text:<{width}}"


def _number(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def _tour(outdir: Path, x64: bool) -> int:
    import jax

    if x64:
        jax.config.update("jax_enable_x64", True)

    from ._tour import plotting, run

    precision = "float64" if jax.config.jax_enable_x64 else "float32 (float64: --x64)"
    print(f"jaxkern tour: jax {jax.__version__} on {jax.default_backend()}, {precision}")
    header = (_cell("domain", _WIDTHS["domain"]) + _cell("algorithm", _WIDTHS["algorithm"])
              + _cell("problem", _WIDTHS["problem"]) + f"{'error':>9}{'tolerance':>11}"
              + f"{'time':>8}  verdict")
    print(header)
    print("-" * len(header))
    passed = failed = 0
    start = time.perf_counter()
    # Warnings (float32 Cholesky, ...) would break the table: print each once below it.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for domain, stop, seconds in run(outdir):
            passed += stop.ok
            failed += not stop.ok
            print(_cell(domain, _WIDTHS["domain"]) + _cell(stop.algorithm, _WIDTHS["algorithm"])
                  + _cell(stop.problem, _WIDTHS["problem"]) + f"{_number(stop.error):>9}"
                  + f"{_number(stop.tolerance):>11}{seconds:>7.1f}s  "
                  + ("pass" if stop.ok else "FAIL"), flush=True)
    notes = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    if notes:
        print("\nwarnings raised on the way (each once):")
        for note in notes:
            print(f"  - {note}")
    if plotting() is None:
        print("\nno plots: matplotlib is not installed (python -m pip install -e '.[plot]').")
    else:
        print(f"\nplots: {len(list(outdir.glob('*.png')))} files in {outdir.resolve()}/")
    total = time.perf_counter() - start
    verdict = "all passed" if not failed else f"{failed} FAILED"
    print(f"{passed} passed, {failed} failed in {total:.0f} s: {verdict}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxkern")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run every algorithm on a small problem with a known answer")
    tour.add_argument("--out", type=Path, default=Path("jaxkern-tour"), help="folder for plots")
    tour.add_argument("--x64", action="store_true", help="run in float64 (default: float32)")
    args = parser.parse_args(argv)
    if args.command == "tour":
        return _tour(args.out, args.x64)
    return 2


if __name__ == "__main__":
    sys.exit(main())
