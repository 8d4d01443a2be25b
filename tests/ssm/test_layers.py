"""SGConv and long-conv kernels, and the equinox sequence layers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxkern.optim import minimize
from jaxkern.ssm import (
    S4D,
    LongConv,
    SequenceModel,
    SGConv,
    hippo_legs,
    longconv_kernel,
    ptd_init,
    s4d_init,
    sgconv_kernel,
    sgconv_lengths,
)
from jaxkern.ssm._init import _s4d_init

from ..helpers import FLOAT, assert_close, check_transforms, count_compiles


def test_sgconv_lengths():
    # Issue target (SGConv paper, section 3): d = 32, L = 1024.
    assert sgconv_lengths(1024, kernel_dim=32) == [32, 32, 64, 128, 256, 512]
    assert sum(sgconv_lengths(1000, kernel_dim=32)) >= 1000


def test_sgconv_kernel_matches_torch_reference(getkey):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    S, d, h, L, decay = 4, 8, 3, 60, 1.7
    w = jax.random.normal(getkey(), (S, d, h), FLOAT)
    # Reference: PyTorch's linear interpolation (align_corners=False), the SGConv authors'
    # upsampling, with the weight decay^(S - 1 - i) of their "cat" mode.
    wt = torch.from_numpy(np.array(w, np.float64)).permute(0, 2, 1)  # (S, h, d)
    parts = []
    for i in range(S):
        f = 2 ** max(0, i - 1)
        up = wt[i][None] if f == 1 else F.interpolate(wt[i][None], scale_factor=f, mode="linear")
        parts.append(decay ** (S - 1 - i) * up[0])
    ref = torch.cat(parts, dim=-1)[:, :L].T.numpy()
    assert_close(sgconv_kernel(w, length=L, decay=decay), ref, rtol32=1e-5, atol32=1e-5)


def test_longconv_kernel_matches_numpy(getkey):
    k = jax.random.normal(getkey(), (40, 2), FLOAT)
    kn = np.asarray(k, np.float64)
    squashed = np.sign(kn) * np.maximum(np.abs(kn) - 0.3, 0)
    # Reference: centred moving average of width 5 with zero padding (np.convolve "same").
    ref = np.stack([np.convolve(squashed[:, c], np.ones(5) / 5, mode="same") for c in range(2)], 1)
    assert_close(longconv_kernel(k, threshold=0.3, smooth=5), ref, rtol32=1e-5, atol32=1e-6)
    # Squash makes the kernel sparse.
    assert float(jnp.mean(longconv_kernel(k, threshold=1.0) == 0)) > 0.5


def test_kernel_transforms(getkey):
    w = jax.random.normal(getkey(), (3, 4, 2), FLOAT)
    check_transforms(sgconv_kernel, (w,), batch=(jnp.stack([w, -w]),),
                     kwargs=dict(length=16, decay=2.0), atol32=1e-6)
    k = jax.random.normal(getkey(), (12, 2), FLOAT) + 3.0  # away from the threshold's kink
    check_transforms(longconv_kernel, (k,), batch=(jnp.stack([k, 2 * k]),),
                     kwargs=dict(threshold=0.1, smooth=3), atol32=1e-6)


@pytest.mark.parametrize("init", ["lin", "inv", "legs", "ptd"])
def test_s4d_layer_scan_equals_fft_equals_direct(getkey, init):
    layer = S4D(3, 16, init=init, method="bilinear" if init == "inv" else "zoh", key=getkey())
    u = jax.random.normal(getkey(), (64, 3), FLOAT)
    y, K, y_rnn = eqx.filter_jit(lambda m: (m(u), m.kernel(64), m.recurrence(u).y))(layer)
    assert y.shape == (64, 3) and y.dtype == FLOAT
    K = np.asarray(K, np.float64)
    un = np.asarray(u, np.float64)
    direct = np.stack([np.convolve(un[:, c], K[:, c])[:64] for c in range(3)], axis=1)
    direct += np.asarray(layer.D, np.float64)[None, :] * un
    tol = dict(rtol64=1e-10, rtol32=2e-4, atol64=1e-10, atol32=2e-4)
    assert_close(y, direct, **tol)
    assert_close(y_rnn, direct, **tol)
    assert np.all(np.asarray(-jnp.exp(layer.log_neg_real)) < 0)


# The trained fields of each layer (SGConv's decay and norm are fixed at initialisation and
# carry no gradient, so finite differences in them would disagree by design).
TRAINED = {"s4d": ("log_dt", "log_neg_real", "imag", "B", "C", "D"),
           "sgconv": ("sub_kernels", "D"), "longconv": ("k", "D")}


@pytest.mark.parametrize("which", ["s4d", "sgconv", "longconv"])
def test_layers_jit_vmap_grad(getkey, which):
    L, h = 32, 4
    make = {"s4d": lambda k: S4D(h, 8, key=k),
            "sgconv": lambda k: SGConv(h, L, kernel_dim=8, key=k),
            "longconv": lambda k: LongConv(h, L, key=k)}
    layer = make[which](getkey())
    if which == "longconv":  # move the weights off the squash's kink at |k| = threshold
        layer = eqx.tree_at(lambda m: m.k, layer, jnp.where(layer.k >= 0, 0.1, -0.1) + layer.k)
    u = jax.random.normal(getkey(), (2, L, h), FLOAT)
    names = TRAINED[which]

    def call(params, u):
        return eqx.tree_at(lambda m: [getattr(m, n) for n in names], layer, list(params))(u)

    params = [getattr(layer, n) for n in names]
    check_transforms(call, (params, u[0]), batch=(params, u), in_axes=(None, 0),
                     grad_argnums=(0, 1), rtol32=1e-5, atol32=1e-5, rtol64=1e-11, atol64=1e-12)


@pytest.mark.parametrize("init", ["legs", "ptd"])
def test_s4d_tables_are_cached(getkey, init):
    # DESIGN.md: HiPPO tables are built once per size in NumPy and cached. Building layers of
    # the same size again reads the cache.
    S4D(3, 12, init=init, key=getkey())
    cached = _s4d_init  # s4d_init checks its arguments, then reads this cache
    misses = [f.cache_info().misses for f in (cached, hippo_legs, ptd_init)]
    hits = cached.cache_info().hits
    for _ in range(2):
        S4D(3, 12, init=init, key=getkey())
    assert [f.cache_info().misses for f in (cached, hippo_legs, ptd_init)] == misses
    assert cached.cache_info().hits == hits + 2
    assert s4d_init(12, init=init) is s4d_init(12, init=init)


def test_s4d_layer_does_not_recompile(getkey):
    # New inputs, and a new layer of the same shapes (new parameter values), reuse one
    # compilation of the layer.
    f, compiles = count_compiles(lambda m, u: m(u))
    for layer in [S4D(3, 12, init="legs", key=getkey()) for _ in range(2)]:
        for _ in range(2):
            u = jax.random.normal(getkey(), (20, 3), FLOAT)
            out = f(layer, u)
    assert_close(out, layer(u), rtol32=1e-5, atol32=1e-5, rtol64=1e-11, atol64=1e-12)
    assert compiles() == 1


def test_sgconv_normalised_at_init_without_state(getkey):
    layer = SGConv(3, 100, kernel_dim=8, key=getkey())
    assert_close(jnp.linalg.norm(layer.kernel(), axis=0), np.ones(3), rtol32=1e-5)
    # No hidden state: the kernel_norm gets no gradient and calling twice changes nothing.
    g = eqx.filter_grad(lambda m: jnp.sum(m.kernel()))(layer)
    assert float(jnp.max(jnp.abs(g.kernel_norm))) == 0.0


@pytest.mark.slow
def test_sequence_model_trains(getkey):
    # Learn to output the input delayed by 5 steps: needs memory, which the SSM kernel gives.
    model = SequenceModel(1, 1, channels=8, depth=1, key=getkey(),
                          make_layer=lambda k: S4D(8, 16, dt_min=0.05, dt_max=0.5, key=k))
    u = jax.random.normal(getkey(), (16, 40, 1), FLOAT)
    target = jnp.pad(u, ((0, 0), (5, 0), (0, 0)))[:, :40]

    def loss(m):
        return jnp.mean((jax.vmap(m)(u) - target) ** 2)

    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes int32 counts with floats
        result = minimize(loss, model, optimizer=optax.adam(1e-2), num_steps=100, chunk_size=100)
    assert result.losses[-1] < 0.5 * result.losses[0]


def test_bad_inputs(getkey):
    with pytest.raises(ValueError, match="state_size"):
        S4D(4, 7, key=getkey())
    layer = S4D(4, 8, key=getkey())
    with pytest.raises(ValueError, match="u"):
        layer(jnp.zeros((10, 3), FLOAT))
    with pytest.raises(ValueError, match="length"):
        layer.kernel(0)
    with pytest.raises(ValueError, match="method"):
        S4D(4, 8, method="euler", key=getkey())
    with pytest.raises(ValueError, match="sub_kernels"):
        sgconv_kernel(jnp.zeros((2, 8, 1), FLOAT), length=1024)
    with pytest.raises(ValueError, match="smooth"):
        longconv_kernel(jnp.zeros((8, 1), FLOAT), smooth=2)
    with pytest.raises(ValueError, match="u"):
        SGConv(3, 16, kernel_dim=4, key=getkey())(jnp.zeros((16, 2), FLOAT))
    with pytest.raises(ValueError, match="length"):
        LongConv(3, 0, key=getkey())
