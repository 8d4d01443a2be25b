"""SGConv and long-conv kernels, and the equinox sequence layers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from jaxkern.optim import minimize
from jaxkern.ssm import (
    S4D,
    LongConv,
    SequenceModel,
    SGConv,
    longconv_kernel,
    sgconv_kernel,
    sgconv_lengths,
)

from ..helpers import FLOAT, assert_close, grad_check_eps


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


def test_kernel_grads(getkey):
    w = jax.random.normal(getkey(), (3, 4, 2), FLOAT)
    check_grads(jax.jit(lambda w: sgconv_kernel(w, length=16, decay=2.0)), (w,), order=1,
                modes=["rev"], eps=grad_check_eps())
    k = jax.random.normal(getkey(), (12, 2), FLOAT) + 3.0  # away from the threshold's kink
    check_grads(jax.jit(lambda k: longconv_kernel(k, threshold=0.1, smooth=3)), (k,), order=1,
                modes=["rev"], eps=grad_check_eps())


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


@pytest.mark.parametrize("which", ["s4d", "sgconv", "longconv"])
def test_layers_jit_vmap_grad(getkey, which):
    L, h = 32, 4
    make = {"s4d": lambda k: S4D(h, 8, key=k),
            "sgconv": lambda k: SGConv(h, L, kernel_dim=8, key=k),
            "longconv": lambda k: LongConv(h, L, key=k)}
    layer = make[which](getkey())
    u = jax.random.normal(getkey(), (2, L, h), FLOAT)

    @eqx.filter_jit
    def run(m, u):
        loss = lambda m: jnp.sum(jax.vmap(m)(u) ** 2)
        return jax.vmap(m)(u), m(u[1]), eqx.filter_grad(loss)(m)

    batched, single, grads = run(layer, u)
    assert_close(batched[1], single, rtol32=1e-5, atol32=1e-5)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert any(float(jnp.max(jnp.abs(g))) > 0 for g in leaves)


def test_sgconv_normalised_at_init_without_state(getkey):
    layer = SGConv(3, 100, kernel_dim=8, key=getkey())
    assert_close(jnp.linalg.norm(layer.kernel(), axis=0), np.ones(3), rtol32=1e-5)
    # No hidden state: the kernel_norm gets no gradient and calling twice changes nothing.
    g = eqx.filter_grad(lambda m: jnp.sum(m.kernel()))(layer)
    assert float(jnp.max(jnp.abs(g.kernel_norm))) == 0.0


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
