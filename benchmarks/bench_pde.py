"""GP-HM on the paper's problems: steps, wall time and relative L2 error per problem.

Problems, domains, grids, boundary faces, mixture size (Q = 30), frequency ranges and the
boundary weight (200) follow the authors' configs (github xuangu-fang/
Gaussian-Process-Slover-for-High-Freq-PDE, `code/config/*.yaml`); errors are measured on a
held-out uniform 300-point (300 x 300 in 2-D) grid at the last step. `--quick` solves one
reduced 1-D problem.

Both optimisers are timed on the same footing: wall time from a fresh start, compilation
included, with JAX's own account of the compilation (`_harness.compile_time`) reported beside
it. The paper's Adam runs `ADAM_STEPS` steps; its 10^5-step time is extrapolated from them
(first chunk, compilation and all, plus the steady per-step time for the rest) and every field
and label that carries it says "extrapolated".
"""

from __future__ import annotations

import math
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from jaxkern.kernels import RBF, Matern52  # noqa: E402
from jaxkern.optim import constrain, unconstrain  # noqa: E402
from jaxkern.pde import PDESolution, mixture_kernels, predict_grid, solve  # noqa: E402
from jaxkern.pde._collocation import evidence, grid_residual, operators  # noqa: E402
from jaxkern.pde._operators import log_evidence_terms  # noqa: E402
from jaxkern.pde._problem import make_problem  # noqa: E402

from . import _harness  # noqa: E402

TWO_PI = 2 * math.pi
ADAM_STEPS = 2000  # run of the paper's Adam optimisation, timed to extrapolate to 1e5 steps
ADAM_CHUNK = 100  # Adam steps per jitted lax.scan chunk


def _second(u, X, d):
    """d^2 u / dx_d^2 on the mesh, by autodiff of the true solution (the source term)."""
    flat = [x.ravel() for x in X]

    def one(*pt):
        return jax.grad(jax.grad(lambda s: u(*pt[:d], s, *pt[d + 1:])))(pt[d])

    return jax.vmap(one)(*flat).reshape(X[0].shape)


def _problem(name, u, lo, hi, n, fmax, kind, beta=None, steps=100):
    """(residual, axes, boundary, truth, fmax) for one of the paper's problems."""
    dim = u.__code__.co_argcount
    axes = tuple(jnp.linspace(lo, hi, n) for _ in range(dim))
    X = tuple(jnp.meshgrid(*axes, indexing="ij"))
    def laplacian(X):
        # of the true solution, computed from the coordinates X rather than held as a grid
        # array, so that the solver can evaluate the residual between the grid points
        # (`offgrid_residual`)
        return sum(_second(u, X, d) for d in range(dim))

    if kind == "poisson":

        def residual(v, du, d2u, X):
            return sum(d2u) - laplacian(X)
    elif kind == "allen-cahn":

        def residual(v, du, d2u, X):
            return sum(d2u) + v * (v**2 - 1) - laplacian(X) - u(*X) * (u(*X) ** 2 - 1)
    else:  # advection beta u_x + u_y = 0

        def residual(v, du, d2u, X):
            return beta * du[0] + du[1]

    U = u(*X)
    boundary = [(jnp.take(U, 0, axis=d), jnp.take(U, -1, axis=d)) for d in range(dim)]
    return dict(name=name, residual=residual, axes=axes, boundary=boundary, u=u, lo=lo, hi=hi,
                fmax=fmax, steps=steps)


def problems():
    """The paper's problems with the authors' grids and frequency ranges."""
    return [
        _problem("poisson1d sin(100x)", lambda x: jnp.sin(100 * x), 0, TWO_PI, 400, 20,
                 "poisson"),
        _problem("poisson1d x sin(200x)", lambda x: x * jnp.sin(200 * x), 0, TWO_PI, 900, 50,
                 "poisson"),
        _problem("poisson1d sin(6x)cos(100x)", lambda x: jnp.sin(6 * x) * jnp.cos(100 * x), 0,
                 TWO_PI, 400, 20, "poisson"),
        _problem("poisson1d sin(x)+0.1sin(20x)+0.05sin(100x)",
                 lambda x: jnp.sin(x) + 0.1 * jnp.sin(20 * x) + 0.05 * jnp.sin(100 * x), 0, 1,
                 900, 30, "poisson"),
        _problem("poisson1d sin(500x)-2(x-0.5)^2",
                 lambda x: jnp.sin(500 * x) - 2 * (x - 0.5) ** 2, 0, 1, 400, 100, "poisson"),
        _problem("allen-cahn1d sin(100x)", lambda x: jnp.sin(100 * x), 0, TWO_PI, 400, 20,
                 "allen-cahn"),
        _problem("poisson2d sin(100x)sin(100y)", lambda x, y: jnp.sin(100 * x) * jnp.sin(100 * y),
                 0, TWO_PI, 400, 20, "poisson", steps=20),
        _problem("allen-cahn2d (sin x+0.1sin 20x+cos 100x)(same in y)",
                 lambda x, y: (jnp.sin(x) + 0.1 * jnp.sin(20 * x) + jnp.cos(100 * x))
                 * (jnp.sin(y) + 0.1 * jnp.sin(20 * y) + jnp.cos(100 * y)), 0, 1, 200, 30,
                 "allen-cahn", steps=20),
        _problem("advection beta=200 sin(x-200y)", lambda x, y: jnp.sin(x - 200 * y), 0, 1, 200,
                 40, "advection", beta=200.0, steps=60),
    ]


def _kernels(p, family):
    axes = p["axes"]
    if family == "GP-HM (Student-t mixture)":
        return mixture_kernels(axes, num_components=30, max_frequency=p["fmax"])
    if family == "Matern-5/2":
        return tuple(Matern52(lengthscale=1.0) for _ in axes)
    return tuple(RBF(lengthscale=1.0) for _ in axes)


def _error(p, sol):
    test = tuple(jnp.linspace(p["lo"], p["hi"], 300) for _ in p["axes"])
    truth = p["u"](*jnp.meshgrid(*test, indexing="ij"))
    pred = predict_grid(sol, test)
    return float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))


def _run(p, family, steps, trend_degree="auto"):
    kernels = _kernels(p, family)
    with _harness.compile_time() as compiled:
        start = time.perf_counter()
        sol = solve(p["residual"], p["axes"], p["boundary"], kernels, num_steps=steps,
                    trend_degree=trend_degree)
        jax.block_until_ready(sol.values)
        wall = time.perf_counter() - start
    return {
        "problem": p["name"],
        "kernel": family,
        "grid": "x".join(str(a.shape[0]) for a in p["axes"]),
        "steps": int(sol.losses.shape[0]),  # taken: the fit stops at the first step without
        "stop": sol.message,  # progress ("no decrease", "tol reached") or at its cap
        "max_steps": steps,
        # mixture components per axis after pruning (of 30 fitted)
        "components": "x".join(str(getattr(k, "num_components", "-")) for k in sol.kernels),
        "wall_s": wall,  # compilation included
        "compile_s": compiled["compile_s"],  # JAX's account: tracing + lowering + XLA compile
        "rel_l2": _error(p, sol),
        "trend_degree": sol.trend_degree,  # the one used ("auto" picks None or 3 in 1-D)
        "boundary_gap": sol.boundary_gap,
    }


def _paper_objective(params, prob, g, boundary_weight, frozen):
    """The paper's negative log joint over (U, kernels, log tau, log v), for Adam.

    Our faithful re-statement of the authors' training objective (their code is PyTorch and
    not installable here): GP prior on the grid values, boundary likelihood weighted by 200,
    residual likelihood at every grid point, learned precisions.
    """
    U, log_kernels, log_tau, log_v = params
    ops = operators(constrain(log_kernels, frozen), prob)
    gap_b = jnp.sum((U[jnp.array([0, -1])] - g) ** 2)
    gap_r = jnp.sum(grid_residual(prob, ops, U) ** 2)
    tau, v = jnp.exp(log_tau), jnp.exp(log_v)
    boundary = boundary_weight * (0.5 * tau * gap_b - 0.5 * g.size * log_tau)
    return (log_evidence_terms(ops, U) + boundary + 0.5 * v * gap_r
            - 0.5 * U.size * log_v)


def _adam_baseline(p, steps):
    """The paper's optimisation, Adam on the joint objective, in our code (1-D problems).

    Timed like `solve`: from a fresh `jax.jit`, compilation included (`wall_s`), with JAX's
    account of the compilation (`compile_s`) and the steady seconds per step (the median chunk
    after the first) apart. The error is after `steps` steps from the authors' initialisation
    (grid values zero, mixture spread over [0, fmax]).
    """
    (x,) = p["axes"]
    kernels = _kernels(p, "GP-HM (Student-t mixture)")
    prob = make_problem(p["residual"], p["axes"], 1e-6)
    g = jnp.stack([p["boundary"][0][0], p["boundary"][0][1]])
    log_kernels, frozen = unconstrain(kernels)
    params = (jnp.zeros_like(x), log_kernels, jnp.zeros(()), jnp.zeros(()))
    opt = optax.adam(1e-2)
    loss = jax.value_and_grad(lambda q: _paper_objective(q, prob, g, 200.0, frozen))

    @jax.jit
    def chunk(params, state):
        def step(carry, _):
            params, state = carry
            value, grad = loss(params)
            updates, state = opt.update(grad, state, params)
            return (optax.apply_updates(params, updates), state), value

        return jax.lax.scan(step, (params, state), None, length=ADAM_CHUNK)[0]

    chunks = []
    with _harness.compile_time() as compiled:
        start = time.perf_counter()
        state = opt.init(params)
        for _ in range(steps // ADAM_CHUNK):
            t0 = time.perf_counter()
            params, state = jax.block_until_ready(chunk(params, state))
            chunks.append(time.perf_counter() - t0)
        wall = time.perf_counter() - start
    per_step = statistics.median(chunks[1:] or chunks) / ADAM_CHUNK
    sol = PDESolution(p["axes"], params[0], constrain(params[1], frozen), jnp.zeros((0,)), 1e-6)
    return {
        "problem": p["name"],
        "adam_steps_run": len(chunks) * ADAM_CHUNK,
        "wall_s": wall,  # the steps run, compilation included
        "compile_s": compiled["compile_s"],
        "seconds_per_adam_step": per_step,  # steady, compilation excluded
        # measured wall time up to the end of the first chunk, then the steady rate
        "extrapolated_wall_s_for_1e5_adam_steps_incl_compile":
            wall - sum(chunks[1:]) + per_step * (1e5 - ADAM_CHUNK),
        "extrapolated_wall_s_for_1e5_adam_steps_excl_compile": per_step * 1e5,
        "rel_l2_after_adam_steps_run": _error(p, sol),
    }


def _against_adam(adam, gp_hm):
    """The paper's Adam (1e5 steps, extrapolated) against `solve` on the same problem."""
    gp_excl = gp_hm["wall_s"] - gp_hm["compile_s"]
    return {
        "gp_hm_wall_s_incl_compile": gp_hm["wall_s"],
        "gp_hm_compile_s": gp_hm["compile_s"],
        "gp_hm_steps": gp_hm["steps"],
        "gp_hm_rel_l2": gp_hm["rel_l2"],
        "adam_1e5_over_gp_hm_wall_incl_compile_extrapolated":
            adam["extrapolated_wall_s_for_1e5_adam_steps_incl_compile"] / gp_hm["wall_s"],
        "adam_1e5_over_gp_hm_wall_excl_compile_extrapolated":
            adam["extrapolated_wall_s_for_1e5_adam_steps_excl_compile"] / gp_excl,
    }


def _print_adam(adam, versus):
    print(f"   Adam baseline, {adam['problem']}: {adam['adam_steps_run']} steps run in "
          f"{adam['wall_s']:.1f} s incl. {adam['compile_s']:.1f} s compile "
          f"({1e3 * adam['seconds_per_adam_step']:.1f} ms/step steady), "
          f"rel. L2 {adam['rel_l2_after_adam_steps_run']:.2g}")
    print(f"   1e5 Adam steps, EXTRAPOLATED: "
          f"{adam['extrapolated_wall_s_for_1e5_adam_steps_incl_compile']:.0f} s incl. compile, "
          f"{adam['extrapolated_wall_s_for_1e5_adam_steps_excl_compile']:.0f} s excl.")
    print(f"   GP-HM solve: {versus['gp_hm_wall_s_incl_compile']:.1f} s incl. "
          f"{versus['gp_hm_compile_s']:.1f} s compile, {versus['gp_hm_steps']} steps; "
          f"extrapolated Adam / GP-HM wall: "
          f"{versus['adam_1e5_over_gp_hm_wall_incl_compile_extrapolated']:.0f}x incl. compile, "
          f"{versus['adam_1e5_over_gp_hm_wall_excl_compile_extrapolated']:.0f}x excl.")


#: 1-D Poisson problems across the band, with trends (docs/pde.md, "Frequency against Nyquist").
BAND = {
    "0.1x^2": lambda x: 0.1 * x**2,
    "sin 10x + 0.1x^2": lambda x: jnp.sin(10 * x) + 0.1 * x**2,
    "sin 30x + 0.1x^2": lambda x: jnp.sin(30 * x) + 0.1 * x**2,
    "sin 60x + 0.1x^2": lambda x: jnp.sin(60 * x) + 0.1 * x**2,
    "sin 100x + 0.1x^2": lambda x: jnp.sin(100 * x) + 0.1 * x**2,
    "sin 20x + sin 70x + 0.1x^2": lambda x: jnp.sin(20 * x) + jnp.sin(70 * x) + 0.1 * x**2,
    "exp(x)/(1+x^2)": lambda x: jnp.exp(x) / (1 + x**2),
    "sin 50x + exp(x)/(1+x^2)": lambda x: jnp.sin(50 * x) + jnp.exp(x) / (1 + x**2),
    "sin 100x + cos x + x/3": lambda x: jnp.sin(100 * x) + jnp.cos(x) + x / 3,
    "sin 15x + sin 45x + sin 90x + 0.1x^2":
        lambda x: jnp.sin(15 * x) + jnp.sin(45 * x) + jnp.sin(90 * x) + 0.1 * x**2,
}


def band(trend_degree="auto", names=None) -> list[dict]:
    """`solve` with its defaults (and `trend_degree`) on the `BAND` problems: u'' = f on
    [0, 2 pi], 400 points, Dirichlet values from the solution, error of `predict_grid` on 1001
    points. Not part of `run`; e.g. `PYTHONPATH=. python -c "from benchmarks.bench_pde import
    band; band(3)"`."""
    x = jnp.linspace(0, TWO_PI, 400)
    test = jnp.linspace(0, TWO_PI, 1001)
    rows = []
    for name in names or BAND:
        u = BAND[name]
        second = jax.vmap(jax.grad(jax.grad(u)))
        start = time.perf_counter()
        sol = solve(lambda v, du, d2u, X: d2u[0] - second(X[0]), (x,), [(u(x[0]), u(x[-1]))],
                    trend_degree=trend_degree)
        err = jnp.linalg.norm(predict_grid(sol, (test,)) - u(test)) / jnp.linalg.norm(u(test))
        rows.append({"problem": name, "trend_degree": sol.trend_degree, "rel_l2": float(err),
                     "boundary_gap": sol.boundary_gap,
                     "steps": sol.num_steps, "stop": sol.message,
                     "kept": sol.kernels[0].num_components,
                     "wall_s": time.perf_counter() - start})
        print(rows[-1], flush=True)
    return rows


def gmres_products(n: int = 400, steps: int = 20) -> dict:
    """GMRES solves and operator products of `solve` on 2-D Poisson sin(100x) sin(100y), n x n
    (on [0, 2 pi n / 400]^2: the benchmark's points per period), counted by a host callback
    around the operator (issue 18; docs/pde.md, *Operator products per solve*). Not part of
    `run`; e.g. `PYTHONPATH=. python -c "from benchmarks.bench_pde import gmres_products;
    print(gmres_products(400))"`."""
    import jaxkern.pde._collocation as collocation

    count = {"solves": 0, "products": 0}

    def bump(key):
        count[key] += 1

    own = collocation.gmres

    def counted(A, b, **kwargs):
        jax.debug.callback(lambda: bump("solves"))

        def A_counted(v):
            jax.debug.callback(lambda: bump("products"))
            return A(v)

        return own(A_counted, b, **kwargs)

    u = lambda x, y: jnp.sin(100 * x) * jnp.sin(100 * y)  # noqa: E731
    p = _problem(f"poisson2d {n}x{n}", u, 0, TWO_PI * n / 400, n, 20, "poisson", steps=steps)
    collocation.gmres = counted
    try:
        start = time.perf_counter()
        sol = solve(p["residual"], p["axes"], p["boundary"], _kernels(p, "GP-HM (Student-t "
                    "mixture)"), num_steps=steps)
        wall = time.perf_counter() - start
    finally:
        collocation.gmres = own
    return {**count, "per_solve": count["products"] / max(1, count["solves"]),
            "steps": sol.num_steps, "rel_l2": _error(p, sol), "wall_s": wall}


COLUMNS = ["problem", "kernel", "grid", "steps", "max_steps", "components", "wall_s",
           "compile_s", "rel_l2"]


def run(quick: bool) -> dict:
    if quick:
        p = _problem("poisson1d sin(20x) on [0, pi/2], 40 points", lambda x: jnp.sin(20 * x), 0,
                     math.pi / 2, 40, 6, "poisson")
        rows = [_run(p, "GP-HM (Student-t mixture)", 20)]
        print(_harness.table(rows, COLUMNS))
        adam = _adam_baseline(p, 3 * ADAM_CHUNK)
        versus = _against_adam(adam, rows[0])
        _print_adam(adam, versus)
        return {"rows": rows, "adam_baseline": adam, "gp_hm_vs_adam": versus}
    probs = problems()
    rows = []
    for p in probs:
        rows.append(_run(p, "GP-HM (Student-t mixture)", p["steps"]))
        print(_harness.table(rows[-1:], COLUMNS), flush=True)
    for family in ("Matern-5/2", "RBF"):
        rows.append(_run(probs[0], family, probs[0]["steps"]))
        print(_harness.table(rows[-1:], COLUMNS), flush=True)
    adam = _adam_baseline(probs[0], ADAM_STEPS)
    versus = _against_adam(adam, rows[0])
    _print_adam(adam, versus)
    big = probs[6]
    kernels = _kernels(big, "GP-HM (Student-t mixture)")
    prob = make_problem(big["residual"], big["axes"], 1e-6)
    log_kernels, frozen = unconstrain(kernels)
    objective = jax.jit(jax.value_and_grad(lambda lk: evidence(
        constrain(lk, frozen), jnp.zeros((400, 400)), prob, 20, 1e-13)[0]))
    memory = _harness.xla_memory(objective, log_kernels)
    print(_harness.table(rows, COLUMNS))
    return {"rows": rows, "adam_baseline": adam, "gp_hm_vs_adam": versus,
            "poisson2d_400x400_objective_memory": memory}
