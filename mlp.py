"""Bias-free MLPs with manual backpropagation, in the notation of Xu et al. (arXiv:2602.06208).

A network is a list of weights ``[W1, ..., WL]`` with ``W_l`` of shape
``(n_l, n_{l-1})``. Samples are columns: ``X`` is ``d x N`` and the output is
``n_L x N``. Every hidden layer applies the same elementwise activation and the
output layer is linear, so the two-layer model of the theory,
``f(X) = W2 phi(W1 X)``, is the depth-2 case.

Covered: activations with their first and second derivatives, the forward
pass, backpropagation, the summed squared loss and the averaged softmax
cross-entropy, and a finite-difference gradient check. Left out: biases,
convolutions and any automatic differentiation.
"""

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from subspace import semi_orthogonal

# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``phi`` with ``phi'`` and ``phi''``.

    All functions keep the dtype of their input. ``smooth`` is False only
    for ReLU, the non-smooth contrast in the experiments.
    ``df_from_output``, when set, gives phi'(z) from h = phi(z) alone
    (1 - h^2 for tanh), so backprop can reuse the stored layer outputs
    instead of evaluating phi again; None where phi' needs z.
    """

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    d2f: Callable[[np.ndarray], np.ndarray]
    smooth: bool = True
    df_from_output: Callable[[np.ndarray], np.ndarray] | None = None

    def __call__(self, z):
        return self.f(z)

    @property
    def value_at_0(self) -> float:
        """phi(0)."""
        return float(self.f(np.zeros(1))[0])

    @property
    def slope_at_0(self) -> float:
        """phi'(0), the gain of the linearization phi(z) ~ phi(0) + phi'(0) z."""
        return float(self.df(np.zeros(1))[0])

    @property
    def curvature_at_0(self) -> float:
        """phi''(0); zero for odd activations such as tanh."""
        return float(self.d2f(np.zeros(1))[0])


def _sigmoid(z):
    # 0.5 (1 + tanh(z / 2)) equals 1 / (1 + exp(-z)) and cannot overflow, because tanh is bounded.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _linear_d1(z):
    return np.ones_like(z)


def _tanh_d1(z):
    return _tanh_d1_from_output(np.tanh(z))


def _tanh_d1_from_output(t):
    # 1 - t^2, written in place: "1.0 - t * t" would allocate a second array.
    slope = t * t
    np.subtract(1.0, slope, out=slope)
    return slope


def _tanh_d2(z):
    t = np.tanh(z)
    return -2.0 * t * (1.0 - t * t)


def _sigmoid_d1(z):
    return _sigmoid_d1_from_output(_sigmoid(z))


def _sigmoid_d1_from_output(s):
    return s * (1.0 - s)


def _sigmoid_d2(z):
    s = _sigmoid(z)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


def _softplus(z):
    return np.logaddexp(0.0, z).astype(z.dtype, copy=False)


def _elu(z):
    # alpha = 1. exp is taken of min(z, 0) so that large positive z cannot overflow.
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))


def _elu_d1(z):
    return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0))).astype(z.dtype, copy=False)


def _elu_d2(z):
    # NOTE: ELU'' jumps from 1 to 0 at z = 0; this returns the left limit, 1, there.
    return np.where(z > 0, 0.0, np.exp(np.minimum(z, 0.0))).astype(z.dtype, copy=False)


_GELU_C = math.sqrt(2.0 / math.pi)  # a Python float, so float32 inputs stay float32
_GELU_A = 0.044715


def _gelu_tanh(z):
    """Return t = tanh(u) for u = c (z + a z^3)."""
    # z * z * z, because NumPy 2.4 computes z**3 with pow(), 40 to 80 times slower on 10^6 entries.
    return np.tanh(_GELU_C * (z + _GELU_A * (z * z * z)))


def _gelu_du(z):
    """Return u' = c (1 + 3 a z^2)."""
    return _GELU_C * (1.0 + 3.0 * _GELU_A * z * z)


def _gelu(z):
    return 0.5 * z * (1.0 + _gelu_tanh(z))


def _gelu_d1(z):
    # 0.5 (1 + t) + 0.5 z (1 - t^2) u', factored with 1 - t^2 = (1 + t)(1 - t)
    # into 0.5 (1 + t) (1 + z (1 - t) u'), which makes fewer passes over z.
    t = _gelu_tanh(z)
    return 0.5 * (1.0 + t) * (1.0 + z * (1.0 - t) * _gelu_du(z))


def _gelu_d2(z):
    # d/dz of 0.5 (1 + t) + 0.5 z (1 - t^2) u', using dt/dz = (1 - t^2) u' and u'' = 6 c a z.
    t, du = _gelu_tanh(z), _gelu_du(z)
    d2u = 6.0 * _GELU_C * _GELU_A * z
    return (1.0 - t * t) * (du + 0.5 * z * (d2u - 2.0 * t * du * du))


def _silu(z):
    return z * _sigmoid(z)


def _silu_d1(z):
    s = _sigmoid(z)
    return s * (1.0 + z * (1.0 - s))


def _silu_d2(z):
    s = _sigmoid(z)
    return s * (1.0 - s) * (2.0 + z * (1.0 - 2.0 * s))


def _relu(z):
    return np.maximum(z, 0.0).astype(z.dtype, copy=False)


def _relu_d1(z):
    # The derivative at the kink is taken as 0. relu(z) > 0 exactly when z > 0,
    # so this function also gives phi' from the output.
    return (z > 0).astype(z.dtype)


def _relu_d2(z):
    return np.zeros_like(z)


ACTIVATIONS = {
    "linear": Activation("linear", lambda z: z, _linear_d1, np.zeros_like, df_from_output=_linear_d1),
    "tanh": Activation("tanh", np.tanh, _tanh_d1, _tanh_d2, df_from_output=_tanh_d1_from_output),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_d1, _sigmoid_d2,
                          df_from_output=_sigmoid_d1_from_output),
    "softplus": Activation("softplus", _softplus, _sigmoid, _sigmoid_d1),
    # ELU with alpha = 1: z for z > 0 and exp(z) - 1 otherwise. It is C^1 but
    # not C^2, because phi'' jumps at 0.
    "elu": Activation("elu", _elu, _elu_d1, _elu_d2),
    # GELU in the tanh approximation of Hendrycks & Gimpel (2016),
    # 0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3))), not the exact erf form.
    # Both have phi'(0) = 1/2 and phi''(0) = sqrt(2/pi) ~ 0.798.
    "gelu": Activation("gelu", _gelu, _gelu_d1, _gelu_d2),
    # SiLU (swish with beta = 1): z * sigmoid(z).
    "silu": Activation("silu", _silu, _silu_d1, _silu_d2),
    # ReLU is not differentiable at 0. phi'' is 0 everywhere except the kink,
    # where it does not exist, so d2f returns 0 (almost everywhere true).
    "relu": Activation("relu", _relu, _relu_d1, _relu_d2, smooth=False, df_from_output=_relu_d1),
}
SMOOTH_ACTIVATIONS = tuple(name for name, act in ACTIVATIONS.items() if act.smooth)


def get_activation(name):
    """Return the Activation called ``name``; an Activation passes through."""
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        valid = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of: {valid}") from None


# ---------------------------------------------------------------------------
# Initialization
# ---------------------------------------------------------------------------

INIT_SCHEMES = ("orthogonal", "he", "xavier")


def init_weights(widths, scheme="orthogonal", scale=1.0, rng=None, dtype=np.float64):
    """Return random weights [W1, ..., WL] for layer widths [n_0, n_1, ..., n_L].

    scheme:
      "orthogonal": W_l = scale * Q_l with Q_l semi-orthogonal (the theory's
          small initialization when scale = eps is small);
      "he": Gaussian with variance 2 / n_{l-1} (He et al. 2015), times scale;
      "xavier": Gaussian with variance 2 / (n_{l-1} + n_l) (Glorot & Bengio 2010), times scale.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of: {', '.join(INIT_SCHEMES)}")
    if len(widths) < 2 or any(int(n) != n or n < 1 for n in widths):
        raise ValueError(f"widths must list at least two positive integers, got {widths!r}")
    rng = np.random.default_rng(rng)
    weights = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        if scheme == "orthogonal":
            W = semi_orthogonal(n_out, n_in, scale, rng)
        else:
            fan = n_in / 2.0 if scheme == "he" else (n_in + n_out) / 2.0
            W = scale * rng.standard_normal((n_out, n_in)) / math.sqrt(fan)
        weights.append(W.astype(dtype, copy=False))
    return weights


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------


def _require_finite(name, array):
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")


def validate_network(weights, X, Y=None):
    """Raise ValueError unless the weights chain, X fits W1 and Y fits the output.

    weights: list of 2-D arrays, W_l of shape (n_l, n_{l-1}).
    X: (n_0, N). Y: (n_L, N) or None. All values must be finite.
    """
    if not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise ValueError("weights must be a non-empty list of 2-D arrays [W1, ..., WL]")
    for index, W in enumerate(weights, start=1):
        if not isinstance(W, np.ndarray) or W.ndim != 2:
            raise ValueError(f"weights: W{index} must be a 2-D NumPy array, got {type(W).__name__} "
                             f"with shape {np.shape(W)}")
        if index > 1 and W.shape[1] != weights[index - 2].shape[0]:
            raise ValueError(f"weights: W{index} has shape {W.shape}, so it expects "
                             f"{W.shape[1]} inputs, but W{index - 1} has "
                             f"{weights[index - 2].shape[0]} outputs")
        _require_finite(f"weights: W{index}", W)
    if not isinstance(X, np.ndarray) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (features x samples), got shape {np.shape(X)}")
    if X.shape[0] != weights[0].shape[1]:
        raise ValueError(f"X has {X.shape[0]} rows (features) but W1 expects {weights[0].shape[1]}; "
                         "samples must be columns")
    _require_finite("X", X)
    if Y is None:
        return
    if not isinstance(Y, np.ndarray) or Y.ndim != 2:
        raise ValueError(f"Y must be a 2-D array (outputs x samples), got shape {np.shape(Y)}")
    if Y.shape[1] != X.shape[1]:
        raise ValueError(f"X has {X.shape[1]} samples (columns) but Y has {Y.shape[1]}")
    if Y.shape[0] != weights[-1].shape[0]:
        raise ValueError(f"Y has {Y.shape[0]} rows but the last layer W{len(weights)} "
                         f"has {weights[-1].shape[0]} outputs")
    _require_finite("Y", Y)


# ---------------------------------------------------------------------------
# Forward and backward
# ---------------------------------------------------------------------------


def forward(weights, X, activation):
    """Run the network and keep what backpropagation needs.

    Returns ``(output, cache)``. ``cache`` contains the layer inputs
    ``H_0 = X, H_1, ..., H_{L-1}`` and the hidden pre-activations
    ``Z_1, ..., Z_{L-1}``, with ``Z_l = W_l H_{l-1}`` and ``H_l = phi(Z_l)``.
    The output ``Z_L = W_L H_{L-1}`` gets no activation.
    """
    phi = get_activation(activation)
    inputs, preactivations = [X], []
    H = X
    for W in weights[:-1]:
        Z = W @ H
        H = phi.f(Z)
        preactivations.append(Z)
        inputs.append(H)
    output = weights[-1] @ H
    return output, (inputs, preactivations)


def backward(weights, cache, output_grad, activation):
    """Backpropagate dLoss/dOutput (n_L x N) and return one gradient per weight.

    Recursion, with delta_L = output_grad:
        G_l = delta_l H_{l-1}^T
        delta_{l-1} = (W_l^T delta_l) * phi'(Z_{l-1})
    Where the activation allows it, phi'(Z_{l-1}) comes from H_{l-1} = phi(Z_{l-1}).
    """
    phi = get_activation(activation)
    inputs, preactivations = cache
    grads = [None] * len(weights)
    delta = output_grad
    for layer in range(len(weights) - 1, -1, -1):
        grads[layer] = delta @ inputs[layer].T
        if layer > 0:
            if phi.df_from_output is not None:
                slope = phi.df_from_output(inputs[layer])
            else:
                slope = phi.df(preactivations[layer - 1])
            delta = (weights[layer].T @ delta) * slope
    return grads


def predict(weights, X, activation):
    """Return the network output f(X), shape (n_L, N)."""
    return forward(weights, X, activation)[0]


# ---------------------------------------------------------------------------
# Losses: each returns (loss, dLoss/dOutput)
# ---------------------------------------------------------------------------


def squared_loss(output, Y):
    """0.5 ||output - Y||_F^2, summed over samples (not averaged).

    NOTE: the sum makes the gradient grow with N, so the usable step size
    shrinks as N grows. This is the theory's loss.
    """
    residual = output - Y
    return 0.5 * float(np.sum(residual * residual)), residual


def cross_entropy_loss(output, Y):
    """Softmax cross-entropy averaged over samples; classes are rows.

    Y: (K, N) with non-negative columns that sum to 1, usually one-hot.
    Uses log-sum-exp, so large logits do not overflow.
    """
    if np.any(Y < 0) or not np.allclose(Y.sum(axis=0), 1.0, atol=1e-6):
        raise ValueError("Y for cross_entropy must have non-negative columns that sum to 1 "
                         "(one-hot labels, classes as rows); use data.one_hot(labels, K)")
    n_samples = output.shape[1]
    shifted = output - output.max(axis=0, keepdims=True)
    log_normalizer = np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))
    log_probs = shifted - log_normalizer
    loss = -float(np.sum(Y * log_probs)) / n_samples
    output_grad = (np.exp(log_probs) - Y) / n_samples
    return loss, output_grad.astype(output.dtype, copy=False)


LOSSES = {"squared": squared_loss, "cross_entropy": cross_entropy_loss}


def get_loss(name):
    """Return the loss function called ``name``."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; expected one of: {', '.join(LOSSES)}") from None


def loss_and_gradients(weights, X, Y, activation, loss="squared", check_inputs=True):
    """Return ``(loss, [G1, ..., GL])`` with ``G_l = dLoss/dW_l``, same shapes as the weights.

    weights: [W1, ..., WL], W_l of shape (n_l, n_{l-1}). X: (n_0, N). Y: (n_L, N).
    loss: "squared" (0.5 ||f(X) - Y||_F^2, summed over samples) or
    "cross_entropy" (mean softmax cross-entropy, Y one-hot with classes as rows).
    Gradients keep the dtype of the weights and X (float32 stays float32).
    check_inputs=False skips the shape and finiteness checks, for a training
    loop that validated its inputs once.
    """
    loss_fn = get_loss(loss)
    phi = get_activation(activation)
    if check_inputs:
        validate_network(weights, X, Y)
    output, cache = forward(weights, X, phi)
    value, output_grad = loss_fn(output, Y)
    return value, backward(weights, cache, output_grad, phi)


# ---------------------------------------------------------------------------
# Gradient check
# ---------------------------------------------------------------------------


def check_gradients(loss_and_grads, params, step=1e-6, max_entries=200, seed=0):
    """Compare analytic gradients with central finite differences.

    loss_and_grads: a function ``params -> (loss, grads)`` where ``grads`` is
    a list with one array per entry of ``params`` (a list of float64 arrays).
    Up to ``max_entries`` entries per array, picked at random with ``seed``,
    are perturbed by +-step in place and restored.

    Returns the relative error ``||analytic - numeric|| / max(||analytic||, ||numeric||)``
    over the checked entries of each array, the largest over the arrays. A
    norm-wise error stays meaningful when single entries are near zero. In
    float64 a correct backprop gives about 1e-8 or less; a wrong one gives
    order 1.

    Example, checking your own two-layer gradient:
        check_gradients(lambda p: my_loss_and_grad(p[0], W2, X, Y), [W1])
    """
    rng = np.random.default_rng(seed)
    _, analytic = loss_and_grads(params)
    if len(analytic) != len(params):
        raise ValueError(f"loss_and_grads returned {len(analytic)} gradients for {len(params)} params")
    worst = 0.0
    for P, G in zip(params, analytic):
        if G.shape != P.shape:
            raise ValueError(f"gradient shape {G.shape} does not match parameter shape {P.shape}")
        flat = P.reshape(-1)  # a view, so writes reach P
        if not np.shares_memory(flat, P):
            raise ValueError("params must be contiguous arrays so entries can be perturbed in place")
        count = min(max_entries, flat.size)
        picked = rng.choice(flat.size, size=count, replace=False)
        numeric = np.empty(count)
        for j, i in enumerate(picked):
            original = flat[i]
            flat[i] = original + step
            loss_plus = loss_and_grads(params)[0]
            flat[i] = original - step
            loss_minus = loss_and_grads(params)[0]
            flat[i] = original
            numeric[j] = (loss_plus - loss_minus) / (2.0 * step)
        exact = np.asarray(G, dtype=np.float64).reshape(-1)[picked]
        scale = max(np.linalg.norm(exact), np.linalg.norm(numeric), 1e-300)
        worst = max(worst, float(np.linalg.norm(exact - numeric) / scale))
    return worst
