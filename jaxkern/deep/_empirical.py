"""The empirical NTK of any JAX function, by three strategies: Jacobian contraction,
NTK-vector products and structured derivatives (Novak et al., ICML 2022), with an automatic
choice from a FLOP count of the function's jaxpr."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend.core import Literal
from jaxtyping import Array, Float

from .._validation import check_int, warn_deprecated
from ..linalg import into_blocks

STRATEGIES = ("jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto")
_OLD_METHODS = {"jacobian": "jacobian_contraction", "ntvp": "ntk_vector_products"}
_CALLS = ("jit", "pjit", "closed_call", "core_call")


# ---------------------------------------------------------------------------------------------
# A jaxpr interpreter that inlines jit calls and lets a hook replace chosen equations.


def _interpret(jaxpr, consts, args, tags, hook):
    """Evaluate `jaxpr`; `tags[i]` names the parameter leaf argument i holds (or None).

    `hook(eqn, invals, intags)` may return the outputs of an equation (or None to bind the
    primitive as it is); it sees every equation, including those inside inlined jit calls.
    """
    env, tag = {}, {}

    def read(v):
        return v.val if isinstance(v, Literal) else env[v]

    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env[v] = c
    for v, a, t in zip(jaxpr.invars, args, tags, strict=True):
        env[v], tag[v] = a, t
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        intags = [None if isinstance(v, Literal) else tag.get(v) for v in eqn.invars]
        closed = eqn.params.get("jaxpr") if eqn.primitive.name in _CALLS else None
        if closed is not None and hasattr(closed, "consts"):
            outvals = _interpret(closed.jaxpr, closed.consts, invals, intags, hook)
        else:
            outvals = hook(eqn, invals, intags)
            if outvals is None:
                ans = _bind(eqn, invals)
                outvals = ans if eqn.primitive.multiple_results else [ans]
        for v, val in zip(eqn.outvars, outvals, strict=True):
            env[v] = val
    outs = [read(v) for v in jaxpr.outvars]
    escaped = {tag.get(v) for v in jaxpr.outvars if not isinstance(v, Literal)} - {None}
    if escaped:  # a parameter leaf returned as is: used by whoever consumes it
        hook(None, outs, sorted(escaped))
    return outs


def _bind(eqn, invals):
    with eqn.ctx.manager:
        return eqn.primitive.bind(*invals, **eqn.primitive.get_bind_params(eqn.params))


def _eqn_flops(eqn) -> float:
    out = sum(math.prod(v.aval.shape) for v in eqn.outvars if hasattr(v.aval, "shape"))
    name = eqn.primitive.name
    if name == "dot_general":
        (lc, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        return 2.0 * out * math.prod(lhs[i] for i in lc)
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        o_dim = eqn.params["dimension_numbers"].rhs_spec[0]
        return 2.0 * out * math.prod(rhs) / rhs[o_dim]
    return float(out)


class _DenseLayer(NamedTuple):
    """A parameter leaf W used once, as one operand of a dot_general, in canonical form:
    the other operand x reshapes to (B, Fx, C) and the output to (B, Fx, Fw)."""

    leaf: int
    w_side: int  # 0: W is the lhs, 1: the rhs
    x_perm: tuple  # transpose of x to (batch, free, contract)
    B: int
    Fx: int
    C: int
    Fw: int
    dtype: Any  # of the layer's output


class _Plan(NamedTuple):
    dense: tuple  # _DenseLayer, Gram order (x1.x2 times dy1.dy2)
    jacobian_leaves: tuple  # leaves whose Jacobian is formed
    flops: float  # forward FLOPs of f on one input
    params: int  # total parameter count
    out_size: int
    jc_pair: float  # FLOPs per pair of inputs, Jacobian contraction
    sd_pair: float  # FLOPs per pair of inputs, structured derivatives


def _plan(f, params, x) -> _Plan:
    """Trace f once (abstractly) and decide, per parameter leaf, how each strategy treats it."""
    leaves, treedef = jax.tree.flatten(params)
    flat_f = lambda *a: f(jax.tree.unflatten(treedef, a[:-1]), a[-1])
    closed = jax.make_jaxpr(flat_f)(*leaves, x)
    n = len(leaves)
    uses: dict[int, list] = {i: [] for i in range(n)}
    flops = [0.0]

    def hook(eqn, invals, intags):
        if eqn is None:
            for t in intags:
                uses[t].append(None)
            return None
        flops[0] += _eqn_flops(eqn)
        tagged = [t for t in intags if t is not None]
        for pos, t in enumerate(intags):
            if t is not None:
                uses[t].append((eqn, pos))
                if len(tagged) > 1:  # a product of two parameters: keep their Jacobians
                    uses[t].append(None)
        return None

    avals = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype) for v in closed.jaxpr.invars]
    jax.eval_shape(lambda *a: _interpret(closed.jaxpr, closed.consts, a,
                                         list(range(n)) + [None], hook), *avals)
    out_size = sum(math.prod(v.aval.shape) for v in closed.jaxpr.outvars)
    o = out_size
    dense, jac, jc_pair, sd_pair = [], [], 0.0, 0.0
    for i, leaf in enumerate(leaves):
        size = math.prod(jnp.shape(leaf))
        jc_pair += 2.0 * o * size
        layer = None
        if len(uses[i]) == 1 and uses[i][0] is not None:
            eqn, pos = uses[i][0]
            if eqn.primitive.name == "dot_general":
                layer = _dense_layer(eqn, i, pos)
        gram = None if layer is None else 2.0 * layer.B * layer.Fx**2 * (layer.C + o * layer.Fw + 1)
        if gram is not None and gram < 2.0 * o * size:
            dense.append(layer)
            sd_pair += gram
        else:
            jac.append(i)
            sd_pair += 2.0 * o * size
    n_params = sum(math.prod(jnp.shape(leaf)) for leaf in leaves)
    return _Plan(tuple(dense), tuple(jac), flops[0], n_params, out_size, jc_pair, sd_pair)


def _dense_layer(eqn, leaf, w_side) -> _DenseLayer:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    x_side = 1 - w_side
    xc, xb = (lc, lb) if x_side == 0 else (rc, rb)
    wc, wb = (rc, rb) if x_side == 0 else (lc, lb)
    xshape, wshape = eqn.invars[x_side].aval.shape, eqn.invars[w_side].aval.shape
    xfree = [d for d in range(len(xshape)) if d not in xc and d not in xb]
    wfree = [d for d in range(len(wshape)) if d not in wc and d not in wb]
    return _DenseLayer(leaf, w_side, tuple(xb) + tuple(xfree) + tuple(xc),
                       math.prod(xshape[d] for d in xb), math.prod(xshape[d] for d in xfree),
                       math.prod(xshape[d] for d in xc), math.prod(wshape[d] for d in wfree),
                       eqn.outvars[0].aval.dtype)


# ---------------------------------------------------------------------------------------------
# Per-input features: what each strategy keeps of one input before pairing inputs.


def _jacobian_features(f, params, xb):
    """Jacobian contraction: per leaf, (b, o, leaf size)."""
    out_size = jax.eval_shape(f, params, xb[0]).size
    jac = jax.vmap(jax.jacrev(f), in_axes=(None, 0))(params, xb)
    return [leaf.reshape(xb.shape[0], out_size, -1) for leaf in jax.tree.leaves(jac)]


def _jacobian_pair(F1, F2):
    return sum(jnp.einsum("iop,jop->ij", a, b) for a, b in zip(F1, F2, strict=True))


def _structured_features(f, params, plan: _Plan, xb):
    """Structured derivatives: the Jacobians of the leaves in `plan.jacobian_leaves`, and for
    each dense layer of the plan its input x (b, B, Fx, C) and the cotangents of the outputs
    at its output dy (b, o, B, Fx, Fw) -- never its weight Jacobian (o, C, Fw)."""
    leaves, treedef = jax.tree.flatten(params)
    closed = jax.make_jaxpr(lambda *a: f(jax.tree.unflatten(treedef, a[:-1]), a[-1]))(
        *leaves, xb[0])
    by_leaf = {layer.leaf: layer for layer in plan.dense}
    tags = list(range(len(leaves))) + [None]

    def one(x):
        def fwd(jac_leaves, probes):
            args = list(leaves)
            for i, v in zip(plan.jacobian_leaves, jac_leaves, strict=True):
                args[i] = v
            xs = {}

            def hook(eqn, invals, intags):
                if eqn is None or eqn.primitive.name != "dot_general":
                    return None
                t = intags[0] if intags[0] in by_leaf else intags[1]
                if t not in by_leaf or intags[by_leaf[t].w_side] != t:
                    return None
                layer = by_leaf[t]
                xin = jnp.transpose(invals[1 - layer.w_side], layer.x_perm)
                xs[t] = xin.reshape(layer.B, layer.Fx, layer.C)
                y = _bind(eqn, invals)
                return [y + probes[t].reshape(y.shape)]

            out = _interpret(closed.jaxpr, closed.consts, args + [x], tags, hook)
            return jnp.concatenate([jnp.ravel(o) for o in out]), xs

        probes = {}
        for layer in plan.dense:
            y_shape = ((layer.B, layer.Fx, layer.Fw) if layer.w_side == 1
                       else (layer.B, layer.Fw, layer.Fx))
            probes[layer.leaf] = jnp.zeros(y_shape, layer.dtype)
        jac_leaves = [leaves[i] for i in plan.jacobian_leaves]
        out, pullback, xs = jax.vjp(fwd, jac_leaves, probes, has_aux=True)
        basis = jnp.eye(out.size, dtype=out.dtype)
        jl, dys = jax.vmap(pullback)(basis)
        jac = [j.reshape(out.size, -1) for j in jl]
        dense = []
        for layer in plan.dense:
            dy = dys[layer.leaf]
            if layer.w_side == 0:
                dy = jnp.swapaxes(dy, -1, -2)
            dense.append((xs[layer.leaf], dy))
        return jac, dense

    return jax.vmap(one)(xb)


def _structured_pair(F1, F2):
    jac1, dense1 = F1
    jac2, dense2 = F2
    total = _jacobian_pair(jac1, jac2)
    for (x1, dy1), (x2, dy2) in zip(dense1, dense2, strict=True):
        gx = jnp.einsum("ibxc,jbyc->ijbxy", x1, x2)
        gy = jnp.einsum("iobxw,jobyw->ijbxy", dy1, dy2)
        total = total + jnp.einsum("ijbxy,ijbxy->ij", gx, gy)
    return total


def _ntvp_tile(f, params, x1b, x2b):
    # Pull each output basis vector of the x2 block back to parameter space (vjp), then push
    # it forward through the x1 block (jvp): column j of J1 J2^T, never forming J1 or J2.
    f1 = lambda p: jax.vmap(f, in_axes=(None, 0))(p, x1b)
    f2 = lambda p: jax.vmap(f, in_axes=(None, 0))(p, x2b)
    out2, pullback = jax.vjp(f2, params)
    b2, o = out2.shape[0], out2.size // out2.shape[0]
    basis = jnp.eye(b2 * o, dtype=out2.dtype).reshape((b2 * o,) + out2.shape)

    def column(cotangent):
        (tangent,) = pullback(cotangent)
        return jax.jvp(f1, (params,), (tangent,))[1].reshape(-1, o)

    cols = lax.map(column, basis).reshape(b2, o, -1, o)  # (j, k, i, k')
    return jnp.einsum("jkik->ij", cols)


# ---------------------------------------------------------------------------------------------
# The cost model and the public functions.


class NTKCosts(NamedTuple):
    """Estimated FLOPs of each strategy for one call, and the one `"auto"` picks."""

    jacobian_contraction: float
    ntk_vector_products: float
    structured_derivatives: float
    choice: str


def _costs(plan: _Plan, n1: int, n2: int, b1: int, b2: int) -> NTKCosts:
    o, F = plan.out_size, plan.flops
    rows = -(-n1 // b1)
    # forward + one backward per output, for every input a tile row or column visits
    visits = n1 + rows * n2
    feature = visits * o * 3.0 * F
    jc = feature + n1 * n2 * plan.jc_pair
    sd = feature + n1 * n2 * plan.sd_pair
    # per column tile: a vjp per (column input, output), each pushed through a row tile (jvp)
    ntvp = rows * n2 * o * (3.0 * F + b1 * 3.0 * F) + n1 * n2 * o
    costs = {"jacobian_contraction": jc, "ntk_vector_products": ntvp,
             "structured_derivatives": sd}
    # structured derivatives run Jacobian contraction's backward passes through a jaxpr
    # interpreter; take them only for a clear saving (on a CNN they save a few per cent)
    costs_for_choice = dict(costs, structured_derivatives=sd / 0.9)
    choice = min(costs_for_choice, key=costs_for_choice.get)
    return NTKCosts(jc, ntvp, sd, choice)


def _check_inputs(X1, X2, block_size):
    check_int("block_size", block_size, 1)
    if jnp.ndim(X1) < 1:
        raise ValueError(f"`X1` must stack inputs on axis 0, got shape {jnp.shape(X1)}.")
    if X2 is None:
        X2 = X1
    if jnp.shape(X2)[1:] != jnp.shape(X1)[1:]:
        raise ValueError(f"`X1` and `X2` must hold inputs of one shape, got shapes "
                         f"{jnp.shape(X1)} and {jnp.shape(X2)}.")
    return X2


def empirical_ntk_costs(
    f: Callable[[Any, Array], Array],
    params: Any,
    X1: Float[Array, " n1 *x"],
    X2: Float[Array, " n2 *x"] | None = None,
    *,
    block_size: int = 64,
) -> NTKCosts:
    """The FLOP estimates [`empirical_ntk`][jaxkern.deep.empirical_ntk] chooses its
    `method="auto"` by, from one abstract trace of `f` (no computation).

    **Arguments:** as for [`empirical_ntk`][jaxkern.deep.empirical_ntk].

    **Returns:** an [`NTKCosts`][jaxkern.deep.NTKCosts]: the three estimates and `choice`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import empirical_ntk_costs, init_mlp, mlp
        >>> params = init_mlp(8, width=128, depth=2, out_dim=4, key=jax.random.key(0))
        >>> empirical_ntk_costs(mlp, params, jnp.ones((32, 8))).choice
        'structured_derivatives'
    """
    X2 = _check_inputs(X1, X2, block_size)
    n1, n2 = X1.shape[0], X2.shape[0]
    plan = _plan(f, params, jax.ShapeDtypeStruct(X1.shape[1:], X1.dtype))
    return _costs(plan, n1, n2, min(block_size, n1), min(block_size, n2))


def empirical_ntk(
    f: Callable[[Any, Array], Array],
    params: Any,
    X1: Float[Array, " n1 *x"],
    X2: Float[Array, " n2 *x"] | None = None,
    *,
    method: str = "auto",
    block_size: int = 64,
) -> Float[Array, "n1 n2"]:
    r"""The empirical neural tangent kernel of `f` at `params`, one tile at a time.

    $$\hat\Theta(x, x') = \frac{1}{o} \sum_{k=1}^{o}
      \Big\langle \frac{\partial f_k(\theta, x)}{\partial \theta},
                   \frac{\partial f_k(\theta, x')}{\partial \theta} \Big\rangle,$$
    the parameter-space inner product of the output gradients, averaged over the $o$ output
    entries (for a scalar output, the plain NTK). Three strategies (Novak et al. 2022) give
    the same matrix at costs that differ by orders of magnitude with the architecture:

    - `"jacobian_contraction"` forms the per-input Jacobians of a tile of inputs (one
      backward pass per output) and contracts them: $O(o P)$ per pair of inputs for $P$
      parameters.
    - `"ntk_vector_products"` never forms a Jacobian: it pulls each output basis vector of a
      column tile back to parameter space (`vjp`) and pushes it through the row tile (`jvp`),
      a forward-and-backward pass per pair and output. It wins only when $P$ dwarfs the
      cost of evaluating `f` (rare: not on dense or convolutional networks).
    - `"structured_derivatives"` reads `f`'s jaxpr: a weight `W` used once, as an operand
      of a `dot_general` (a dense layer $y = x W$), has Jacobian $x \otimes \partial y$,
      so its contribution is $\langle x, x'\rangle \, \langle \partial y, \partial y'\rangle$
      from the layer's input and the output cotangents at the layer's output: $O(C + o F)$
      per pair instead of $O(o C F)$. Where that order is not cheaper (convolution kernels,
      whose Jacobians are small next to the spatial Gram matrices, weights used twice or
      inside other primitives, biases), the leaf's Jacobian is formed and contracted.
    - `"auto"` counts the FLOPs of each (from the jaxpr's `dot_general` and convolution
      shapes; see [`empirical_ntk_costs`][jaxkern.deep.empirical_ntk_costs]) and runs the
      cheapest.

    All visit (block_size, block_size) tiles with `lax.map`, so memory is that of one tile's
    Jacobians (or layer inputs and cotangents), not of all of them.

    **Arguments:**

    - `f`: `f(params, x) -> array`, on one input `x` (any shape) and any parameter pytree.
    - `params`: the parameters (a pytree of arrays).
    - `X1`: inputs stacked on axis 0, shape (n1, ...).
    - `X2`: inputs, shape (n2, ...); defaults to `X1`.
    - `method`: the strategy, `"auto"`, `"jacobian_contraction"`, `"ntk_vector_products"` or
      `"structured_derivatives"` (static; the old names `"jacobian"` and `"ntvp"` are
      deprecated).
    - `block_size`: inputs per tile (static).

    **Returns:** the (n1, n2) matrix.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import empirical_ntk
        >>> f = lambda w, x: jnp.tanh(x @ w)
        >>> X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
        >>> empirical_ntk(f, jnp.zeros(2), X).tolist()
        [[1.0, 0.0], [0.0, 4.0]]

    Jacot, Gabriel & Hongler, *Neural Tangent Kernel*, NeurIPS 2018; Novak, Sohl-Dickstein
    & Schoenholz, *Fast Finite Width Neural Tangent Kernel*, ICML 2022 (the three strategies).
    """
    if method in _OLD_METHODS:
        warn_deprecated(f"empirical_ntk(..., method={method!r})",
                        f"empirical_ntk(..., method={_OLD_METHODS[method]!r})")
        method = _OLD_METHODS[method]
    if method not in STRATEGIES:
        raise ValueError(f"`method` must be one of {STRATEGIES}, got {method!r}.")
    X2 = _check_inputs(X1, X2, block_size)
    n1, n2 = X1.shape[0], X2.shape[0]
    b1, b2 = min(block_size, n1), min(block_size, n2)
    out_size = jax.eval_shape(f, params, X1[0]).size
    plan = None
    if method in ("auto", "structured_derivatives"):
        plan = _plan(f, params, jax.ShapeDtypeStruct(X1.shape[1:], X1.dtype))
    if method == "auto":
        method = _costs(plan, n1, n2, b1, b2).choice
    X1_blocks = into_blocks(X1, b1, "edge")
    X2_blocks = into_blocks(X2, b2, "edge")

    def over(fn, blocks):
        # a single block is called directly: XLA:CPU runs a loop body's convolutions
        # several times slower than the same code outside a loop
        if blocks.shape[0] == 1:
            return fn(blocks[0])[None]
        return lax.map(fn, blocks)

    if method == "ntk_vector_products":
        def row(x1b):
            return over(lambda x2b: _ntvp_tile(f, params, x1b, x2b), X2_blocks)
    else:
        if method == "jacobian_contraction":
            features, pair = (lambda xb: _jacobian_features(f, params, xb)), _jacobian_pair
        else:
            features = lambda xb: _structured_features(f, params, plan, xb)
            pair = _structured_pair

        def row(x1b):
            F1 = features(x1b)  # once per row of tiles, not once per tile
            return over(lambda x2b: pair(F1, features(x2b)), X2_blocks)

    tiles = over(row, X1_blocks)  # (row blocks, column blocks, b1, b2)
    tiles = jnp.swapaxes(tiles, 1, 2)
    return tiles.reshape(tiles.shape[0] * b1, tiles.shape[2] * b2)[:n1, :n2] / out_size
