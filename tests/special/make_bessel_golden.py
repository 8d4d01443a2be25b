"""Generate the golden values of log I_v(x) and log K_v(x) in ``bessel_golden.npz``.

Run once (not by pytest): ``python tests/special/make_bessel_golden.py --chunk i --of n`` for
i = 0..n-1 (each writes ``/tmp/bessel_golden_i.npz``), then ``--merge n`` writes the data file
from the chunks that exist (chunk i holds points i, i + n, ...; any set of chunks is a random
subsample of the 10,000).
Every value is computed with mpmath at 50 significant digits, independently of jaxkern:

- log I_v(x): the power series sum_k (x/2)^(2k+v) / (k! Gamma(v+k+1)), summed outward from
  its largest term (all terms positive, so no cancellation) until a term is below 1e-55 of
  the sum;
- log K_v(x): the integral int_0^inf exp(-x cosh t) cosh(v t) dt by tanh-sinh quadrature,
  split at the peak t* = asinh(v/x) and at the points where the log-integrand has fallen by
  3 and 150 (it is concave in t);
- every 10th point is checked against the Wronskian x (I_v K_{v+1} + I_{v+1} K_v) = 1, and every
  5th point with v < 60 and x < 60 also against mpmath.besseli / besselk; the largest deviations
  are stored in the file.

The sample: 10,000 points, x log-uniform in [1e-10, 1e5]; v = 0 for 10%, a multiple of 1/2
log-uniform in [0.5, 1e4] for 10%, and log-uniform in [1e-3, 1e4] for the rest (seed 20240611).
"""

from __future__ import annotations

import argparse
import math
import pathlib

import mpmath as mp
import numpy as np

N_POINTS = 10_000
LEVELS = (3, 150)  # where the quadrature splits: log-integrand fallen by this much
SEED = 20240611
OUT = pathlib.Path(__file__).with_name("bessel_golden.npz")
mp.mp.dps = 50


def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    x = 10.0 ** rng.uniform(-10, 5, N_POINTS)
    v = 10.0 ** rng.uniform(-3, 4, N_POINTS)
    kind = rng.uniform(size=N_POINTS)
    v[kind < 0.1] = 0.0
    half = (kind >= 0.1) & (kind < 0.2)
    v[half] = np.round(2 * 10.0 ** rng.uniform(math.log10(0.5), 4, half.sum())) / 2
    return v, x


def log_i(v, x):
    v, x = mp.mpf(v), mp.mpf(x)
    q = (x / 2) ** 2
    k0 = int(mp.floor((mp.sqrt(v * v + x * x) - v) / 2))  # index of the largest term
    log_t0 = (2 * k0 + v) * mp.log(x / 2) - mp.loggamma(k0 + 1) - mp.loggamma(v + k0 + 1)
    eps = mp.mpf(10) ** -55
    total, t, k = mp.mpf(1), mp.mpf(1), k0
    while True:
        k += 1
        t = t * q / (k * (v + k))
        total += t
        if t < eps * total:
            break
    t, k = mp.mpf(1), k0
    while k > 0:
        t = t * (k * (v + k)) / q
        k -= 1
        total += t
        if t < eps * total:
            break
    return log_t0 + mp.log(total)


def _level(L, t0, c, direction):
    """The t on one side of the peak t0 where the concave L(t) - L(t0) = -c (bisection)."""
    lo, step = t0, 1e-6
    hi = t0 + direction * step
    while L(hi) > -c:
        if direction < 0 and hi <= 0:
            return None
        lo, step = hi, step * 2
        hi = t0 + direction * step
    hi = max(hi, 0.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if L(mid) > -c else (lo, mid)
    return hi


def log_k(v, x):
    v, x = mp.mpf(v), mp.mpf(x)
    ts = mp.asinh(v / x)
    peak = -x * mp.cosh(ts) + v * ts

    def L(t):  # the log-integrand relative to its peak, in float for the break points
        t = mp.mpf(t)
        return float(-x * mp.cosh(t) + v * t - peak)

    pts = {0.0, float(ts)}
    for c in LEVELS:
        for direction in (1, -1):
            t = _level(L, float(ts), c, direction)
            if t is not None and t > 0:
                pts.add(t)
    pts = sorted(pts)

    def f(t):
        return mp.exp(-x * mp.cosh(t) + v * t - peak) * (1 + mp.exp(-2 * v * t)) / 2

    return peak + mp.log(mp.quad(f, [mp.mpf(p) for p in pts]))


def run_chunk(i: int, n: int) -> None:
    v, x = sample()
    idx = np.arange(i, N_POINTS, n)
    li, lk, wr, cross = [], [], [], []
    for j in idx:
        a, b = log_i(v[j], x[j]), log_k(v[j], x[j])
        li.append(float(a))
        lk.append(float(b))
        if j % 10 == 0:
            v1 = mp.mpf(v[j]) + 1  # exact: v[j] + 1 in float64 would round the order
            w = mp.exp(a + log_k(v1, x[j])) + mp.exp(log_i(v1, x[j]) + b)
            wr.append(float(abs(w * x[j] - 1)))
        if v[j] < 60 and x[j] < 60 and j % 5 == 0:
            ra = mp.log(mp.besseli(v[j], x[j]))
            rb = mp.log(mp.besselk(v[j], x[j]))
            cross.append(float(max(abs(ra - a), abs(rb - b))))
    np.savez(
        f"/tmp/bessel_golden_{i}.npz",
        idx=idx, log_i=np.array(li), log_k=np.array(lk), wronskian=np.array(wr),
        cross=np.array(cross),
    )


def merge(n: int) -> None:
    """Merge the chunks that exist (each is an interleaved, so random, subsample)."""
    v, x = sample()
    idx, log_iv, log_kv, wr, cross = [], [], [], [], []
    for i in range(n):
        path = pathlib.Path(f"/tmp/bessel_golden_{i}.npz")
        if not path.exists():
            continue
        part = np.load(path)
        idx.extend(part["idx"])
        log_iv.extend(part["log_i"])
        log_kv.extend(part["log_k"])
        wr.extend(part["wronskian"])
        cross.extend(part["cross"])
    idx = np.asarray(idx)
    np.savez_compressed(
        OUT, v=v[idx], x=x[idx], log_iv=np.asarray(log_iv), log_kv=np.asarray(log_kv),
        max_wronskian_defect=np.max(wr), max_mpmath_besseli_k_deviation=np.max(cross),
        provenance=np.array(__doc__ + f"\nmpmath {mp.__version__}, dps {mp.mp.dps}"),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk", type=int)
    parser.add_argument("--of", type=int)
    parser.add_argument("--merge", type=int)
    args = parser.parse_args()
    if args.merge:
        merge(args.merge)
    else:
        run_chunk(args.chunk, args.of)
