"""NumPy reference implementations of what a CNN computes, forward and backward.

Taught in ``notebooks/02_cnn_math.ipynb``, where every function here is checked against
Keras/TensorFlow (forward to 1e-5, gradients to 1e-4) and against finite differences.

Conventions follow Keras: images are NHWC (batch, height, width, channels); convolution
kernels are (kh, kw, c_in, c_out); dense kernels are (n_in, n_out). Deep-learning
"convolution" is **cross-correlation** (the kernel is not flipped):

    y[n, i, j, o] = b[o] + sum_{u, v, c} x_pad[n, i*s + u, j*s + v, c] * w[u, v, c, o]

Forward functions return ``(output, cache)``; backward functions take the upstream
gradient and the cache and return the gradients. All are vectorised (im2col through
``sliding_window_view``), with no loops over pixels or channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Padding = Literal["valid", "same"]


# ---- sizes ---------------------------------------------------------------------


def conv_output_size(n: int, k: int, stride: int = 1, padding: Padding = "valid") -> int:
    """Output length along one axis: ``floor((n + p_total - k) / s) + 1``.

    ``valid`` pads nothing; ``same`` (TensorFlow's rule) pads so the output is
    ``ceil(n / s)``. Pooling layers follow the same formula.
    """
    if padding == "valid":
        if n < k:
            raise ValueError(f"input length {n} is smaller than the kernel {k} with valid padding")
        return (n - k) // stride + 1
    if padding == "same":
        return math.ceil(n / stride)
    raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")


def same_padding(n: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: (before, after); the extra pixel,
    when the total is odd, goes *after*."""
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def _pads(shape: tuple[int, ...], kh: int, kw: int, stride: int, padding: Padding) -> tuple:
    """((top, bottom), (left, right)) padding of an NHWC input."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return same_padding(shape[1], kh, stride), same_padding(shape[2], kw, stride)
    raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")


def im2col(
    x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: Padding = "valid"
) -> np.ndarray:
    """Every receptive-field patch as a row: (N, Ho, Wo, kh*kw*C), ordered (u, v, c) to
    match ``w.reshape(kh*kw*C, C_out)``. A view where possible, so it is cheap."""
    ph, pw = _pads(x.shape, kh, kw, stride, padding)
    xp = np.pad(x, ((0, 0), ph, pw, (0, 0))) if padding == "same" else x
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[
        :, ::stride, ::stride
    ]  # N,Ho,Wo,C,kh,kw
    n, ho, wo, c = windows.shape[:4]
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n, ho, wo, kh * kw * c)


# ---- convolution ---------------------------------------------------------------


@dataclass
class ConvCache:
    x_shape: tuple[int, ...]
    cols: np.ndarray
    w: np.ndarray
    stride: int
    padding: Padding
    pads: tuple


def conv2d_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    *,
    stride: int = 1,
    padding: Padding = "valid",
) -> tuple[np.ndarray, ConvCache]:
    """2-D cross-correlation with C_in -> C_out channels, stride, padding and bias, as
    one matrix product of the im2col patches with the reshaped kernel."""
    kh, kw, cin, cout = w.shape
    if x.shape[-1] != cin:
        raise ValueError(f"input has {x.shape[-1]} channels, the kernel expects {cin}")
    cols = im2col(x, kh, kw, stride, padding)
    y = cols @ w.reshape(kh * kw * cin, cout)
    if b is not None:
        y = y + b
    return y, ConvCache(x.shape, cols, w, stride, padding, _pads(x.shape, kh, kw, stride, padding))


def conv2d_backward(dy: np.ndarray, cache: ConvCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a convolution: ``(dx, dw, db)``.

    dL/dw[u,v,c,o] = sum_{n,i,j} x_pad[n, i*s+u, j*s+v, c] * dy[n,i,j,o]   (patches^T @ dy)
    dL/db[o]       = sum_{n,i,j} dy[n,i,j,o]
    dL/dx          = every patch's share dy @ w^T, added back where the patch came from
                     (col2im: one vectorised add per kernel offset), padding cropped.
    """
    kh, kw, cin, cout = cache.w.shape
    n, h, wdt, _ = cache.x_shape
    _, ho, wo, _ = dy.shape
    dy2 = dy.reshape(-1, cout)
    dw = (cache.cols.reshape(-1, kh * kw * cin).T @ dy2).reshape(cache.w.shape)
    db = dy2.sum(axis=0)
    dcols = (dy2 @ cache.w.reshape(kh * kw * cin, cout).T).reshape(n, ho, wo, kh, kw, cin)
    (pt, pb), (pl, pr) = cache.pads
    dxp = np.zeros((n, h + pt + pb, wdt + pl + pr, cin), dtype=dy.dtype)
    s = cache.stride
    for u in range(kh):
        for v in range(kw):
            dxp[:, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s, :] += dcols[
                :, :, :, u, v, :
            ]
    dx = dxp[:, pt : pt + h, pl : pl + wdt, :]
    return dx, dw, db


def conv2d_loops(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: int = 1
) -> np.ndarray:
    """The definition, written as loops over output pixels (valid padding): slow, for
    checking :func:`conv2d_forward` and for reading."""
    kh, kw, _, cout = w.shape
    n, h, wdt, _ = x.shape
    ho, wo = (h - kh) // stride + 1, (wdt - kw) // stride + 1
    y = np.zeros((n, ho, wo, cout), dtype=np.result_type(x, w))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]  # N,kh,kw,C
            y[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    return y if b is None else y + b


# ---- pooling -------------------------------------------------------------------


@dataclass
class PoolCache:
    x_shape: tuple[int, ...]
    pool: int
    stride: int
    argmax: np.ndarray | None  # flat index of the winner inside each window (max pooling)


def _windows(x: np.ndarray, pool: int, stride: int) -> np.ndarray:
    """(N, Ho, Wo, C, pool*pool) windows, valid padding."""
    win = sliding_window_view(x, (pool, pool), axis=(1, 2))[:, ::stride, ::stride]
    return win.reshape(*win.shape[:4], pool * pool)


def maxpool_forward(
    x: np.ndarray, pool: int = 2, stride: int | None = None
) -> tuple[np.ndarray, PoolCache]:
    """Max pooling, valid padding: y[n,i,j,c] = max over the pool x pool window at
    (i*s, j*s) of channel c; each channel is pooled on its own."""
    stride = stride or pool
    win = _windows(x, pool, stride)
    argmax = win.argmax(axis=-1)
    y = np.take_along_axis(win, argmax[..., None], axis=-1)[..., 0]
    return y, PoolCache(x.shape, pool, stride, argmax)


def avgpool_forward(
    x: np.ndarray, pool: int = 2, stride: int | None = None
) -> tuple[np.ndarray, PoolCache]:
    """Average pooling, valid padding: the mean of each window."""
    stride = stride or pool
    return _windows(x, pool, stride).mean(axis=-1), PoolCache(x.shape, pool, stride, None)


def pool_backward(dy: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Max pooling sends each gradient to the window's maximum (the argmax) only;
    average pooling spreads it equally, dy / pool^2, over the window."""
    n, ho, wo, c = dy.shape
    p, s = cache.pool, cache.stride
    dx = np.zeros(cache.x_shape, dtype=dy.dtype)
    if cache.argmax is None:
        share = np.repeat(dy[..., None], p * p, axis=-1) / (p * p)
    else:
        share = np.zeros((n, ho, wo, c, p * p), dtype=dy.dtype)
        np.put_along_axis(share, cache.argmax[..., None], dy[..., None], axis=-1)
    share = share.reshape(n, ho, wo, c, p, p)
    for u in range(p):
        for v in range(p):
            dx[:, u : u + s * (ho - 1) + 1 : s, v : v + s * (wo - 1) + 1 : s, :] += share[..., u, v]
    return dx


# ---- dense, activations, loss ----------------------------------------------------


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y = x W + b, x of shape (N, n_in)."""
    return x @ w + b, (x, w)


def dense_backward(dy: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dL/dx = dy W^T, dL/dW = x^T dy, dL/db = sum over the batch of dy."""
    x, w = cache
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(0, x); its derivative is 1 where x > 0, else 0 (0 at x = 0, as in TF)."""
    return np.maximum(x, 0), x > 0


def relu_backward(dy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return dy * mask


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z_k) / sum_j exp(z_j), computed as exp(z - max z) so it never overflows."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dp: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Jacobian-vector product of softmax: dz = p * (dp - sum_k dp_k p_k)."""
    return p * (dp - (dp * p).sum(axis=-1, keepdims=True))


def cross_entropy(p: np.ndarray, y: np.ndarray, eps: float = 1e-12) -> float:
    """Mean of -log p[n, y_n] over the batch (y holds integer class indices)."""
    return float(-np.log(np.clip(p[np.arange(len(y)), y], eps, 1.0)).mean())


def softmax_cross_entropy_backward(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dz for L = mean cross-entropy of softmax(z): (softmax(z) - onehot(y)) / N."""
    grad = softmax(logits)
    grad[np.arange(len(y)), y] -= 1.0
    return grad / len(y)


# ---- counting ------------------------------------------------------------------


def conv_params(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """k*k*C_in*C_out weights (+ C_out biases)."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def dense_params(n_in: int, n_out: int, bias: bool = True) -> int:
    """n_in*n_out weights (+ n_out biases)."""
    return n_in * n_out + (n_out if bias else 0)


def conv_flops(h_out: int, w_out: int, k: int, c_in: int, c_out: int) -> int:
    """Forward FLOPs of a convolution, one image: 2 per multiply-add, Ho*Wo*k*k*C_in*C_out
    multiply-adds (bias adds and activations not counted)."""
    return 2 * h_out * w_out * k * k * c_in * c_out


def seed_cnn_table(
    input_shape: tuple[int, int, int],
    n_classes: int,
    filters: tuple[int, ...] = (32, 64, 128),
    kernel: int = 3,
    dense: int = 128,
    global_pool: bool = False,
) -> list[dict]:
    """Layer-by-layer output shape, parameters and forward FLOPs (one image) of the
    article's CNN (Conv-Pool x3, Flatten, Dense, Dense), computed by formula.
    ``global_pool=True`` replaces Flatten with global average pooling."""
    h, w, c = input_shape
    rows = []
    for f in filters:
        h, w = conv_output_size(h, kernel), conv_output_size(w, kernel)
        rows.append(
            {
                "layer": f"Conv2D {f} {kernel}x{kernel}",
                "output": (h, w, f),
                "params": conv_params(kernel, c, f),
                "flops": conv_flops(h, w, kernel, c, f),
            }
        )
        c = f
        h, w = conv_output_size(h, 2, 2), conv_output_size(w, 2, 2)
        rows.append({"layer": "MaxPooling2D 2x2", "output": (h, w, c), "params": 0, "flops": 0})
    features = c if global_pool else h * w * c
    rows.append(
        {
            "layer": "GlobalAveragePooling2D" if global_pool else "Flatten",
            "output": (features,),
            "params": 0,
            "flops": 0,
        }
    )
    rows.append(
        {
            "layer": f"Dense {dense}",
            "output": (dense,),
            "params": dense_params(features, dense),
            "flops": 2 * features * dense,
        }
    )
    rows.append(
        {
            "layer": f"Dense {n_classes}",
            "output": (n_classes,),
            "params": dense_params(dense, n_classes),
            "flops": 2 * dense * n_classes,
        }
    )
    return rows


def receptive_field(layers: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Receptive field size and jump (input pixels between neighbouring units) after each
    layer, for layers given as (kernel, stride): r_l = r_{l-1} + (k_l - 1) * j_{l-1},
    j_l = j_{l-1} * s_l, starting from r_0 = 1, j_0 = 1."""
    r, j, out = 1, 1, []
    for k, s in layers:
        r = r + (k - 1) * j
        j = j * s
        out.append((r, j))
    return out


# ---- a whole (tiny) network ----------------------------------------------------


def sgd_batches(n: int, batch_size: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    """Image indices of each of ``steps`` SGD batches over ``n`` images: consecutive
    ``batch_size`` slices of a stream of shuffled epochs (a fresh permutation of
    ``range(n)`` per epoch, all from ``np.random.default_rng(seed)``), so every batch is
    full however many steps are asked for; a batch may straddle two epochs. The first
    ``n // batch_size`` batches are slices of ``default_rng(seed).permutation(n)``."""
    if n < 1 or batch_size < 1 or steps < 0:
        raise ValueError(
            f"need n >= 1, batch_size >= 1, steps >= 0; got {n}, {batch_size}, {steps}"
        )
    if steps == 0:
        return []
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.permutation(n) for _ in range(math.ceil(steps * batch_size / n))])
    return [stream[k * batch_size : (k + 1) * batch_size] for k in range(steps)]


class TinyCNN:
    """Conv(k x k, F filters, valid) -> ReLU -> MaxPool 2 -> Flatten -> Dense(classes),
    trained with softmax cross-entropy and plain SGD, entirely in NumPy.

    Its Keras twin is :func:`helpers.models.cnn.tiny_cnn`; ``02_cnn_math`` trains both from
    the same initial weights on the same batches and compares the loss curves.
    Parameters are a dict with keys ``conv_w``, ``conv_b``, ``dense_w``, ``dense_b``.
    """

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}

    def logits(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        p = self.params
        a1, c1 = conv2d_forward(x, p["conv_w"], p["conv_b"])
        a2, c2 = relu_forward(a1)
        a3, c3 = maxpool_forward(a2, 2)
        flat = a3.reshape(len(x), -1)
        z, c4 = dense_forward(flat, p["dense_w"], p["dense_b"])
        return z, [c1, c2, c3, a3.shape, c4]

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy of the batch and its gradient for every parameter."""
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(
                f"a batch needs at least one image and one label per image; got {len(x)} "
                f"images and {len(y)} labels (build batches with sgd_batches)"
            )
        z, (c1, c2, c3, pooled_shape, c4) = self.logits(x)
        loss = cross_entropy(softmax(z), y)
        dz = softmax_cross_entropy_backward(z, y)
        dflat, g_dense_w, g_dense_b = dense_backward(dz, c4)
        da2 = pool_backward(dflat.reshape(pooled_shape), c3)
        da1 = relu_backward(da2, c2)
        _, g_conv_w, g_conv_b = conv2d_backward(da1, c1)
        return loss, {
            "conv_w": g_conv_w,
            "conv_b": g_conv_b,
            "dense_w": g_dense_w,
            "dense_b": g_dense_b,
        }

    def sgd_step(self, x: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """One step of w <- w - lr * dL/dw; returns the loss before the step."""
        loss, grads = self.loss_and_grads(x, y)
        for name, grad in grads.items():
            self.params[name] -= learning_rate * grad
        return loss


def model_flops(model) -> int:
    """Forward FLOPs of one image through a built Keras model, counting the multiply-adds
    of Conv2D (via :func:`conv_flops`), DepthwiseConv2D, Dense (per token for sequence inputs) and
    MultiHeadAttention (projections and the two attention products); other layers are
    cheap and not counted. Used for the scaling curves of ``09_large_models``; training
    costs about 3x the forward FLOPs per image (forward + backward)."""
    import keras  # deferred: the NumPy reference imports no TensorFlow

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += model_flops(layer)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            _, h, w, c_out = layer.output.shape
            total += 2 * h * w * layer.kernel_size[0] * layer.kernel_size[1] * c_out
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k = layer.kernel_size[0] * layer.kernel_size[1]
            total += conv_flops(h, w, 1, layer.input.shape[-1] * k, c_out)
        elif isinstance(layer, keras.layers.Dense):
            tokens = int(np.prod(layer.input.shape[1:-1])) if len(layer.input.shape) > 2 else 1
            total += 2 * tokens * layer.input.shape[-1] * layer.units
        elif isinstance(layer, keras.layers.MultiHeadAttention):
            query = layer.input[0] if isinstance(layer.input, (list, tuple)) else layer.input
            n, d = query.shape[1], query.shape[-1]
            inner = layer.num_heads * layer.key_dim
            total += 2 * n * d * inner * 4 + 2 * 2 * n * n * inner  # q, k, v, out; QK^T and AV
    return int(total)
