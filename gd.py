"""Optimizers and a training loop that records what the experiments plot.

Optimizers update a list of weight arrays in place:

- ``GradientDescent(eta)``: ``W_l <- W_l - eta * scale_l * G_l``. With the
  default full batch this is the theory's explicit gradient descent; given a
  ``batch_size``, ``train`` turns it into mini-batch SGD.
- ``Adam(eta)``: Kingma & Ba (2015), with bias correction.

Both take ``layer_scales`` (one learning-rate factor per layer) and
``frozen`` (indices of layers never updated, e.g. ``frozen=[1]`` keeps W2
fixed as in the two-layer theory). Layer indices start at 0 for W1.

``train`` runs an optimizer and returns a ``History``: the loss at every
step, and at every ``record_every`` steps the singular values of each weight
and each gradient. Left out: momentum SGD, weight decay, schedules.
"""

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from mlp import get_activation, get_loss, loss_and_gradients, validate_network

log = logging.getLogger(__name__)


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss."""


class _Optimizer:
    def __init__(self, eta, layer_scales=None, frozen=()):
        if not (np.isfinite(eta) and eta > 0):
            raise ValueError(f"eta must be a positive finite learning rate, got {eta!r}")
        self.eta = float(eta)
        self.layer_scales = None if layer_scales is None else [float(s) for s in layer_scales]
        self.frozen = frozenset(int(i) for i in frozen)

    def scale(self, layer):
        """Return the learning-rate factor of layer ``layer`` (0 when frozen)."""
        if layer in self.frozen:
            return 0.0
        return 1.0 if self.layer_scales is None else self.layer_scales[layer]

    def check_layers(self, n_layers):
        """Raise ValueError if layer_scales or frozen do not fit ``n_layers`` weights."""
        if self.layer_scales is not None and len(self.layer_scales) != n_layers:
            raise ValueError(f"layer_scales has {len(self.layer_scales)} entries for {n_layers} layers")
        bad = [i for i in self.frozen if not 0 <= i < n_layers]
        if bad:
            raise ValueError(f"frozen layer indices {bad} are out of range for {n_layers} layers (0-based)")


# Elements per block in _subtract_scaled: 256 KiB of float64, which fits in the L2 cache of
# common x86 CPUs, so the block is still cached when the subtraction reads it.
_UPDATE_BLOCK = 1 << 15


def _subtract_scaled(W, rate, G):
    """Do ``W -= rate * G`` in place, a block of rows at a time.

    Same result as the one-liner, but the temporary ``rate * G`` is one small
    reused block instead of a weight-sized array, which for large layers
    saves a pass over memory and a fresh allocation per step.
    """
    if W.ndim != 2 or G.shape != W.shape or W.size <= _UPDATE_BLOCK:
        W -= rate * G
        return
    rows = max(1, _UPDATE_BLOCK // W.shape[1])
    scaled = np.empty((rows, W.shape[1]), dtype=np.result_type(rate, G))
    for start in range(0, W.shape[0], rows):
        G_block = G[start:start + rows]
        block = scaled[:len(G_block)]
        np.multiply(G_block, rate, out=block)
        W[start:start + rows] -= block


class GradientDescent(_Optimizer):
    """Plain (stochastic) gradient descent, ``W_l <- W_l - eta * scale_l * G_l``."""

    def step(self, weights, grads):
        for layer, (W, G) in enumerate(zip(weights, grads)):
            rate = self.eta * self.scale(layer)
            if rate != 0.0:
                _subtract_scaled(W, rate, G)


class Adam(_Optimizer):
    """Adam with bias-corrected moments (Kingma & Ba 2015, Algorithm 1)."""

    def __init__(self, eta=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, layer_scales=None, frozen=()):
        super().__init__(eta, layer_scales, frozen)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.t = 0
        self.m = None
        self.v = None

    def step(self, weights, grads):
        if self.m is None:
            self.m = [np.zeros_like(W) for W in weights]
            self.v = [np.zeros_like(W) for W in weights]
        self.t += 1
        correction1 = 1.0 - self.beta1**self.t
        correction2 = 1.0 - self.beta2**self.t
        for layer, (W, G) in enumerate(zip(weights, grads)):
            rate = self.eta * self.scale(layer)
            if rate == 0.0:
                continue
            m, v = self.m[layer], self.v[layer]
            m *= self.beta1
            m += (1.0 - self.beta1) * G
            v *= self.beta2
            v += (1.0 - self.beta2) * (G * G)
            # W <- W - eta * m_hat / (sqrt(v_hat) + epsilon)
            W -= rate * (m / correction1) / (np.sqrt(v / correction2) + self.epsilon)


@dataclass
class History:
    """Arrays recorded by ``train``.

    loss: (steps + 1,) the loss before each step and, last, after the final
        step. For mini-batches it is the full-data loss at recorded steps and
        the mini-batch loss elsewhere.
    record_steps: (R,) the steps at which singular values were recorded.
    weight_sv, grad_sv: one (R, min(n_l, n_{l-1})) array per layer, singular
        values in decreasing order of W_l and of the full-data gradient G_l.
    extra: lists filled by the ``callback`` of ``train``, keyed by name.
    """

    loss: np.ndarray
    record_steps: np.ndarray
    weight_sv: list
    grad_sv: list
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def save(self, path):
        """Write every array to one .npz file."""
        arrays = {"loss": self.loss, "record_steps": self.record_steps,
                  "seconds": np.array(self.seconds)}
        for layer, (w_sv, g_sv) in enumerate(zip(self.weight_sv, self.grad_sv), start=1):
            arrays[f"weight_sv_{layer}"] = w_sv
            arrays[f"grad_sv_{layer}"] = g_sv
        for name, values in self.extra.items():
            arrays[f"extra_{name}"] = np.asarray(values)
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path):
        """Read a History written by ``save``."""
        with np.load(path) as data:
            n_layers = sum(1 for key in data.files if key.startswith("weight_sv_"))
            return cls(loss=data["loss"], record_steps=data["record_steps"],
                       weight_sv=[data[f"weight_sv_{i}"] for i in range(1, n_layers + 1)],
                       grad_sv=[data[f"grad_sv_{i}"] for i in range(1, n_layers + 1)],
                       seconds=float(data["seconds"]),
                       extra={k[len("extra_"):]: data[k] for k in data.files if k.startswith("extra_")})


def _singular_values(matrix):
    return np.linalg.svd(matrix, compute_uv=False)


def train(weights, X, Y, activation, optimizer, steps, loss="squared", batch_size=None, seed=0,
          record_every=0, callback=None, progress_every=0):
    """Train ``weights`` in place and return a History.

    weights: [W1, ..., WL], W_l of shape (n_l, n_{l-1}); updated in place.
    X: (n_0, N) inputs, Y: (n_L, N) targets, samples as columns.
    optimizer: GradientDescent or Adam. steps: number of updates.
    batch_size: None for full batch. Otherwise each step uses the next
        ``batch_size`` columns of a permutation drawn from ``seed`` afresh each
        epoch, and the last short batch of an epoch is dropped.
    record_every: record singular values at steps 0, k, 2k, ... and after the
        last step; 0 records none, so no SVD runs inside the loop.
    callback: ``callback(step, weights, grads)`` called at each recorded step,
        with the full-data gradients; a dict it returns is appended to
        ``History.extra``.
    progress_every: log the loss at INFO level every that many steps (0: never).

    Raises DivergenceError naming the step and learning rate when the loss
    becomes NaN or infinite.
    """
    phi = get_activation(activation)
    get_loss(loss)
    validate_network(weights, X, Y)
    optimizer.check_layers(len(weights))
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    n_samples = X.shape[1]
    if batch_size is not None and not 1 <= batch_size <= n_samples:
        raise ValueError(f"batch_size must be between 1 and N = {n_samples}, got {batch_size}")

    rng = np.random.default_rng(seed)
    order, cursor = None, n_samples
    losses = np.empty(steps + 1)
    record_steps, weight_sv, grad_sv = [], [[] for _ in weights], [[] for _ in weights]
    extra = {}
    start = time.perf_counter()

    def record(step):
        value, grads = loss_and_gradients(weights, X, Y, phi, loss, check_inputs=False)
        record_steps.append(step)
        for layer, (W, G) in enumerate(zip(weights, grads)):
            weight_sv[layer].append(_singular_values(W))
            grad_sv[layer].append(_singular_values(G))
        if callback is not None:
            for name, item in (callback(step, weights, grads) or {}).items():
                extra.setdefault(name, []).append(item)
        return value, grads

    for step in range(steps + 1):
        is_recorded = record_every and (step % record_every == 0 or step == steps)
        full_batch = batch_size is None
        if is_recorded:
            value, grads = record(step)
        elif full_batch or step == steps:
            value, grads = loss_and_gradients(weights, X, Y, phi, loss, check_inputs=False)
        if not full_batch and step < steps:
            if cursor + batch_size > n_samples:
                order, cursor = rng.permutation(n_samples), 0
            batch = order[cursor:cursor + batch_size]
            cursor += batch_size
            batch_value, grads = loss_and_gradients(weights, X[:, batch], Y[:, batch], phi, loss,
                                                    check_inputs=False)
            if not is_recorded:
                value = batch_value
        losses[step] = value
        if not np.isfinite(value):
            raise DivergenceError(
                f"loss became {value} at step {step} with learning rate eta={optimizer.eta:g}; "
                "try a smaller eta (the squared loss is summed over samples, so larger N needs a smaller eta)")
        if progress_every and step % progress_every == 0:
            log.info("step %d/%d  loss %.4e  (%.1f s)", step, steps, value, time.perf_counter() - start)
        if step < steps:
            optimizer.step(weights, grads)

    def stack(rows):
        return np.array(rows) if rows else np.empty((0, 0))

    return History(loss=losses, record_steps=np.array(record_steps, dtype=int),
                   weight_sv=[stack(rows) for rows in weight_sv],
                   grad_sv=[stack(rows) for rows in grad_sv],
                   seconds=time.perf_counter() - start, extra=extra)
