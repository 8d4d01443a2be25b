"""Depthwise, Inception and dilated re-param convolutions against PyTorch and NumPy."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.layers import (
    DILATED_REPARAM_SETTINGS,
    DepthwiseConv2d,
    DilatedReparamConv2d,
    InceptionDWConv2d,
    depthwise_conv2d,
    dilate_kernel,
    fft_is_faster,
    inception_split,
    merge_dilated_kernels,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _numpy_depthwise(x, w, r=(1, 1)):
    """Reference: the defining sum of a 'same' depthwise cross-correlation, in float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    kh, kw, _ = w.shape
    ph, pw = r[0] * (kh - 1) // 2, r[1] * (kw - 1) // 2
    H, W = x.shape[-3:-1]
    xp = np.pad(x, [(0, 0)] * (x.ndim - 3) + [(ph, ph), (pw, pw), (0, 0)])
    y = np.zeros_like(x)
    for a in range(kh):
        for b in range(kw):
            y += xp[..., a * r[0]: a * r[0] + H, b * r[1]: b * r[1] + W, :] * w[a, b]
    return y


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("size,dilation", [((5, 5), 1), ((1, 7), 1), ((3, 3), (2, 3))])
def test_depthwise_matches_numpy(getkey, method, size, dilation):
    x = jax.random.normal(getkey(), (2, 9, 11, 3), FLOAT)
    w = jax.random.normal(getkey(), size + (3,), FLOAT)
    y = depthwise_conv2d(x, w, dilation=dilation, method=method)
    r = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    assert y.dtype == FLOAT and y.shape == x.shape
    assert_close(y, _numpy_depthwise(x, w, r), rtol32=1e-5, atol32=2e-5, atol64=1e-12)


def test_depthwise_matches_torch(getkey):
    torch = pytest.importorskip("torch")
    x = jax.random.normal(getkey(), (2, 12, 10, 4), FLOAT)
    w = jax.random.normal(getkey(), (7, 7, 4), FLOAT)
    b = jax.random.normal(getkey(), (4,), FLOAT)
    # Reference: torch.nn.functional.conv2d with groups=C (PyTorch's depthwise convolution).
    xt = torch.from_numpy(np.array(x, np.float64)).permute(0, 3, 1, 2)
    wt = torch.from_numpy(np.array(w, np.float64)).permute(2, 0, 1)[:, None]
    ref = torch.nn.functional.conv2d(xt, wt, torch.from_numpy(np.array(b, np.float64)),
                                     padding=3, groups=4).permute(0, 2, 3, 1).numpy()
    for method in ("direct", "fft", "auto"):
        assert_close(depthwise_conv2d(x, w, b, method=method), ref, rtol32=1e-5, atol32=3e-5,
                     atol64=1e-12)


def test_depthwise_transforms(getkey):
    x = jax.random.normal(getkey(), (3, 8, 8, 2), FLOAT)
    w = jax.random.normal(getkey(), (5, 3, 2), FLOAT)
    for method in ("direct", "fft"):
        check_transforms(lambda x, w, m=method: depthwise_conv2d(x, w, method=m), (x[0], w),
                         batch=(x, w), in_axes=(0, None), grad_argnums=(0, 1),
                         rtol32=1e-4, atol32=1e-5, atol64=1e-12)


def test_auto_rule():
    # The measured rule: small kernels direct, large ones FFT, at the benchmark's 56 x 56.
    assert not fft_is_faster((56, 56), (3, 3)) and not fft_is_faster((56, 56), (5, 5))
    assert fft_is_faster((56, 56), (13, 13)) and fft_is_faster((56, 56), (31, 31))
    # A thin band kernel on a large image stays direct.
    assert not fft_is_faster((224, 224), (1, 11))


class InceptionDWConv2dTorch:
    """A transcription (not an import: timm needs torchvision, not installable here) of
    timm's `timm/models/inception_next.py::InceptionDWConv2d.forward`: split order
    (identity, hw, w, h), split sizes (C - 3g, g, g, g) with g = int(C * branch_ratio), and
    Conv2d(groups=g) with paddings k // 2, (0, K // 2), (K // 2, 0), biases on."""

    def __init__(self, torch, in_chs, square_kernel_size=3, band_kernel_size=11,
                 branch_ratio=0.125):
        nn = torch.nn
        gc = int(in_chs * branch_ratio)
        self.torch = torch
        self.dwconv_hw = nn.Conv2d(gc, gc, square_kernel_size,
                                   padding=square_kernel_size // 2, groups=gc)
        self.dwconv_w = nn.Conv2d(gc, gc, kernel_size=(1, band_kernel_size),
                                  padding=(0, band_kernel_size // 2), groups=gc)
        self.dwconv_h = nn.Conv2d(gc, gc, kernel_size=(band_kernel_size, 1),
                                  padding=(band_kernel_size // 2, 0), groups=gc)
        self.split_indexes = (in_chs - 3 * gc, gc, gc, gc)

    def __call__(self, x):
        x_id, x_hw, x_w, x_h = self.torch.split(x, self.split_indexes, dim=1)
        return self.torch.cat((x_id, self.dwconv_hw(x_hw), self.dwconv_w(x_w),
                               self.dwconv_h(x_h)), dim=1)


def _copy(torch_conv):
    """timm's (g, 1, kh, kw) weight -> jaxkern's (kh, kw, g), and the bias."""
    w = torch_conv.weight.detach().numpy()[:, 0].transpose(1, 2, 0)
    return jnp.asarray(w, FLOAT), jnp.asarray(torch_conv.bias.detach().numpy(), FLOAT)


@pytest.mark.parametrize("channels", [64, 20])
def test_inception_matches_timm_transcription(getkey, channels):
    torch = pytest.importorskip("torch")
    torch.manual_seed(channels)
    ref = InceptionDWConv2dTorch(torch, channels)
    layer = InceptionDWConv2d(channels, key=getkey(), dtype=FLOAT)
    (ws, bs), (ww, bw), (wh, bh) = map(_copy, (ref.dwconv_hw, ref.dwconv_w, ref.dwconv_h))
    layer = eqx.tree_at(
        lambda m: (m.w_square, m.b_square, m.w_width, m.b_width, m.w_height, m.b_height),
        layer, (ws, bs, ww, bw, wh, bh))
    x = np.random.default_rng(0).standard_normal((2, channels, 17, 15)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).permute(0, 2, 3, 1).numpy()
    got = layer(jnp.asarray(x.transpose(0, 2, 3, 1), FLOAT))
    # The bar: timm's InceptionDWConv2d with copied weights to 1e-5 in float32.
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    assert inception_split(channels) == ref.split_indexes


class DilatedReparamBlockTorch:
    """A transcription of UniRepLKNet's `DilatedReparamBlock.forward` (training form,
    batch norms in eval mode): lk_origin -> origin_bn, plus for each (k, r)
    Conv2d(k, padding=(r (k - 1) + 1) // 2, dilation=r, groups=C, bias=False) -> BN."""

    def __init__(self, torch, layer: DilatedReparamConv2d):
        nn, C = torch.nn, layer.channels
        self.torch = torch

        def bn(stats):
            m = nn.BatchNorm2d(C, eps=layer.eps).double().eval()
            for name, v in (("weight", stats.scale), ("bias", stats.shift),
                            ("running_mean", stats.mean), ("running_var", stats.var)):
                getattr(m, name).data = torch.from_numpy(np.array(v, np.float64))
            return m

        def conv(w, r):
            k = w.shape[0]
            c = nn.Conv2d(C, C, k, padding=(r * (k - 1) + 1) // 2, dilation=r, groups=C,
                          bias=False).double()
            c.weight.data = torch.from_numpy(np.array(w, np.float64).transpose(2, 0, 1)[:, None])
            return c

        self.origin = (conv(layer.large, 1), bn(layer.large_bn))
        self.branches = [(conv(w, r), bn(s)) for w, s, r in
                         zip(layer.branches, layer.branch_bns, layer.dilations)]

    def __call__(self, x):
        out = self.origin[1](self.origin[0](x))
        for conv, bn in self.branches:
            out = out + bn(conv(x))
        return out


@pytest.mark.parametrize("kernel_size,setting", [
    (13, None), pytest.param(17, None, marks=pytest.mark.slow), (9, ((3, 3, 5), (2, 4, 2)))])
def test_dilated_reparam_merge(getkey, kernel_size, setting):
    kw = {} if setting is None else dict(kernel_sizes=setting[0], dilations=setting[1])
    block = DilatedReparamConv2d(6, kernel_size, dtype=FLOAT, key=getkey(), **kw)
    if setting is None:
        assert (block.kernel_sizes, block.dilations) == DILATED_REPARAM_SETTINGS[kernel_size]
    x = jax.random.normal(getkey(), (2, 24, 21, 6), FLOAT)
    multi = eqx.filter_jit(lambda b, x: b(x))(block, x)
    merged = block.merge()
    assert merged.weight.shape == (kernel_size, kernel_size, 6)
    kernel, bias = merged.weight, merged.bias
    for method in ("direct", "fft"):
        one = depthwise_conv2d(x, kernel, bias, method=method)
        # The bar: merged = multi-branch to 1e-6 (float32) and 1e-12 (float64), relative to
        # the output's scale.
        scale = float(jnp.max(jnp.abs(multi)))
        err = float(jnp.max(jnp.abs(one - multi))) / scale
        assert err <= (1e-12 if X64 else 1e-6), (method, err)


@pytest.mark.slow
def test_dilated_reparam_matches_reference_transcription(getkey):
    torch = pytest.importorskip("torch")
    block = DilatedReparamConv2d(5, 13, dtype=FLOAT, key=getkey())
    x = jax.random.normal(getkey(), (1, 19, 23, 5), FLOAT)
    with torch.no_grad():
        want = DilatedReparamBlockTorch(torch, block)(
            torch.from_numpy(np.array(x, np.float64)).permute(0, 3, 1, 2))
    got = eqx.filter_jit(lambda b, x: b(x))(block, x)
    assert_close(got, want.permute(0, 2, 3, 1).numpy(), rtol32=1e-5, atol32=2e-5, atol64=1e-12)


def test_dilate_and_merge_golden():
    # Hand-computed: a 2-tap kernel at dilation 3 has two zeros between its taps.
    w = jnp.arange(1.0, 5.0, dtype=FLOAT).reshape(2, 2, 1)
    d = dilate_kernel(w, (3, 2))
    assert d.shape == (4, 3, 1)
    np.testing.assert_array_equal(np.asarray(d[:, :, 0]),
                                  [[1, 0, 2], [0, 0, 0], [0, 0, 0], [3, 0, 4]])
    m = merge_dilated_kernels(jnp.zeros((7, 7, 1), FLOAT), [jnp.ones((3, 3, 1), FLOAT)], [3])
    assert float(m.sum()) == 9.0 and float(m[0, 0, 0]) == 1.0 and float(m[3, 3, 0]) == 1.0


def test_reparam_transforms(getkey):
    block = DilatedReparamConv2d(2, 7, dtype=FLOAT, key=getkey())
    x = jax.random.normal(getkey(), (2, 10, 10, 2), FLOAT)
    check_transforms(lambda b, x: b(x), (block, x[0]), grad_argnums=(0,), rtol32=1e-4,
                     atol32=1e-5, atol64=1e-12)
    check_transforms(lambda b: b.merged_kernel()[0], (block,), rtol32=1e-5, atol32=1e-6)


def test_bad_input(getkey):
    key = getkey()
    with pytest.raises(ValueError, match="kernel_size.*odd"):
        DepthwiseConv2d(4, 4, key=key)
    with pytest.raises(ValueError, match="band_kernel_size.*odd"):
        InceptionDWConv2d(16, band_kernel_size=10, key=key)
    with pytest.raises(ValueError, match="square_kernel_size.*odd"):
        InceptionDWConv2d(16, square_kernel_size=2, key=key)
    with pytest.raises(ValueError, match="channels.*branch_ratio"):
        InceptionDWConv2d(4, key=key)
    with pytest.raises(ValueError, match="dilation 4 does not fit"):
        DilatedReparamConv2d(4, 9, kernel_sizes=(3, 5), dilations=(1, 4), key=key)
    with pytest.raises(ValueError, match="kernel_size.*odd"):
        DilatedReparamConv2d(4, 12, key=key)
    with pytest.raises(ValueError, match="no reference setting"):
        DilatedReparamConv2d(4, 19, key=key)
    with pytest.raises(ValueError, match="same length"):
        DilatedReparamConv2d(4, 9, kernel_sizes=(3, 5), dilations=(1,), key=key)
    layer = DepthwiseConv2d(4, 3, key=key)
    with pytest.raises(ValueError, match="4 channels"):
        layer(jnp.ones((8, 8, 3)))
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W, C\)"):
        layer(jnp.ones((8, 4)))
    with pytest.raises(ValueError, match="`w` has 2 channels but `x` has 3"):
        depthwise_conv2d(jnp.ones((5, 5, 3)), jnp.ones((3, 3, 2)))
    with pytest.raises(ValueError, match="method"):
        depthwise_conv2d(jnp.ones((5, 5, 3)), jnp.ones((3, 3, 3)), method="winograd")
    with pytest.raises(ValueError, match="odd"):
        depthwise_conv2d(jnp.ones((5, 5, 3)), jnp.ones((2, 3, 3)))
