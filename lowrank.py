"""Low-rank MLPs whose factored layers start inside the invariant subspaces.

A factored layer stores ``W_l = U_l S_l V_l^T`` with ``U_l`` (n_l x r),
``S_l`` (r x r) and ``V_l`` (n_{l-1} x r), so it has r (n_l + n_{l-1} + r)
parameters instead of n_l n_{l-1}. The hidden widths do not change, because
the activation acts on every hidden unit. Three initializations are built
from the full network's ``W_l(0) = eps Q_l``:

- "subspace": ``V_l(0)`` is the input-side basis of the invariant subspace
  from layer l's initial gradient and ``W_l(0)`` (``subspace.invariant_subspace``),
  ``S_l(0) = eps I_r`` and ``U_l(0) = W_l(0) V_l(0) / eps``. The layer then
  equals ``W_l(0)`` on span(V_l) and is zero on its complement. A layer with
  fewer outputs than inputs swaps the sides (``subspace_factors``), so that
  U and V both keep orthonormal columns.
- "random": random orthonormal ``U_l``, ``V_l`` and ``S_l(0) = eps I_r``.
- "plain": ``W_l = A_l B_l^T`` with no middle factor, each factor drawn like a
  standard linear layer (Gaussian with variance 1 / fan-in).

S_l (and A_l, B_l, and the dense layers) train at the base learning rate,
U_l and V_l at ``alpha`` times it, so alpha = 0 freezes them. The design
follows the deep linear networks of Yaras et al. 2023 (arXiv:2306.01154) and
2024 (arXiv:2406.04112), one factorization per layer.

The model keeps one flat list of parameter arrays, ``model.params``, so
``gd.Adam`` and ``gd.GradientDescent`` update it in place with one
learning-rate scale per array. ``gd.train`` cannot train it, because that loop
calls ``mlp.loss_and_gradients`` on a list of full weight matrices and
records their SVDs. ``train_classifier`` here is a mini-batch loop that trains
a full MLP (``full_mlp``) and a low-rank one in exactly the same way and
records test accuracy per epoch.

Left out: biases, convolutions, and re-orthogonalizing U and V during training.
"""

import copy
import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from gd import DivergenceError
from mlp import get_activation, get_loss, loss_and_gradients, validate_network
from subspace import initialization_scale, invariant_subspace, semi_orthogonal

log = logging.getLogger(__name__)

INITS = ("subspace", "random", "plain")


# ---------------------------------------------------------------------------
# Layers: forward and backward side by side
# ---------------------------------------------------------------------------


class DenseLayer:
    """A full weight matrix W (n_out x n_in), trained at the base learning rate."""

    kind = "dense"
    param_names = ("W",)

    def __init__(self, W):
        self.W = np.ascontiguousarray(W)

    @property
    def params(self):
        return [self.W]

    @property
    def shape(self):
        return self.W.shape

    def learning_rate_scales(self, alpha):
        return [1.0]

    def matrix(self):
        return self.W

    def forward(self, H):
        """Return ``Z = W H`` and the cache for ``backward``."""
        return self.W @ H, H

    def backward(self, delta, H, need_input_grad=True):
        """Return ``([G_W], dL/dH)`` for ``delta = dL/dZ``, with dL/dH None unless needed."""
        grads = [delta @ H.T]
        return grads, (self.W.T @ delta if need_input_grad else None)

    def flops(self, need_input_grad=True):
        """Return (forward, backward) matrix-multiply FLOPs per sample, 2 per multiply-add."""
        m, n = self.shape
        return 2 * m * n, 2 * m * n * (2 if need_input_grad else 1)


class FactoredLayer:
    """``W = U S V^T`` with U (n_out x r), S (r x r), V (n_in x r).

    S trains at the base learning rate, U and V at ``alpha`` times it.
    ``init`` records how the factors were drawn ("subspace" or "random").
    """

    kind = "factored"
    param_names = ("U", "S", "V")

    def __init__(self, U, S, V, init="subspace"):
        r = S.shape[0]
        if S.shape != (r, r) or U.shape[1] != r or V.shape[1] != r:
            raise ValueError(f"factor shapes do not fit: U {U.shape}, S {S.shape}, V {V.shape}")
        self.U, self.S, self.V = (np.ascontiguousarray(P) for P in (U, S, V))
        self.init = init

    @property
    def params(self):
        return [self.U, self.S, self.V]

    @property
    def shape(self):
        return self.U.shape[0], self.V.shape[0]

    @property
    def rank(self):
        return self.S.shape[0]

    def learning_rate_scales(self, alpha):
        return [alpha, 1.0, alpha]

    def matrix(self):
        return self.U @ self.S @ self.V.T

    def forward(self, H):
        # Z = U (S (V^T H)), never forming the n_out x n_in matrix.
        A = self.V.T @ H
        B = self.S @ A
        return self.U @ B, (H, A, B)

    def backward(self, delta, cache, need_input_grad=True):
        """Return ``([G_U, G_S, G_V], dL/dH)``.

        With G_W = delta H^T these equal G_U = G_W V S^T, G_S = U^T G_W V and
        G_V = G_W^T U S, computed through the r-row products A = V^T H and
        B = S A so that G_W is never formed.
        """
        H, A, B = cache
        dB = self.U.T @ delta
        dA = self.S.T @ dB
        grads = [delta @ B.T, dB @ A.T, H @ dA.T]
        return grads, (self.V @ dA if need_input_grad else None)

    def flops(self, need_input_grad=True):
        m, n = self.shape
        r = self.rank
        forward = 2 * (n * r + r * r + r * m)
        backward = 2 * (2 * m * r + 2 * r * r + n * r) + (2 * n * r if need_input_grad else 0)
        return forward, backward


class PlainFactoredLayer:
    """``W = A B^T`` with A (n_out x r) and B (n_in x r), both at the base learning rate."""

    kind = "plain"
    init = "plain"
    param_names = ("A", "B")

    def __init__(self, A, B):
        if A.shape[1] != B.shape[1]:
            raise ValueError(f"factor shapes do not fit: A {A.shape}, B {B.shape}")
        self.A, self.B = np.ascontiguousarray(A), np.ascontiguousarray(B)

    @property
    def params(self):
        return [self.A, self.B]

    @property
    def shape(self):
        return self.A.shape[0], self.B.shape[0]

    @property
    def rank(self):
        return self.A.shape[1]

    def learning_rate_scales(self, alpha):
        return [1.0, 1.0]

    def matrix(self):
        return self.A @ self.B.T

    def forward(self, H):
        C = self.B.T @ H
        return self.A @ C, (H, C)

    def backward(self, delta, cache, need_input_grad=True):
        """Return ``([G_A, G_B], dL/dH)``: G_A = G_W B and G_B = G_W^T A without forming G_W."""
        H, C = cache
        dC = self.A.T @ delta
        grads = [delta @ C.T, H @ dC.T]
        return grads, (self.B @ dC if need_input_grad else None)

    def flops(self, need_input_grad=True):
        m, n = self.shape
        r = self.rank
        forward = 2 * (n * r + r * m)
        backward = 2 * (2 * m * r + n * r) + (2 * n * r if need_input_grad else 0)
        return forward, backward


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------


class LowRankMLP:
    """A bias-free MLP whose layers are dense or factored; samples are columns.

    layers: list of DenseLayer, FactoredLayer or PlainFactoredLayer, layer l
    mapping n_{l-1} to n_l. Hidden layers apply ``activation``; the output is linear.
    ``params`` lists every trainable array in layer order (U, S, V for a
    factored layer), the same objects the layers use, so in-place updates by
    an optimizer reach the model.
    """

    def __init__(self, layers, activation):
        self.layers = list(layers)
        self.activation = get_activation(activation)
        for index in range(1, len(self.layers)):
            if self.layers[index].shape[1] != self.layers[index - 1].shape[0]:
                raise ValueError(f"layer {index + 1} expects {self.layers[index].shape[1]} inputs but "
                                 f"layer {index} has {self.layers[index - 1].shape[0]} outputs")

    @property
    def params(self):
        return [P for layer in self.layers for P in layer.params]

    @property
    def widths(self):
        return [self.layers[0].shape[1]] + [layer.shape[0] for layer in self.layers]

    def learning_rate_scales(self, alpha=1.0):
        """Return one learning-rate factor per entry of ``params``: alpha for U and V, 1 otherwise."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        return [s for layer in self.layers for s in layer.learning_rate_scales(float(alpha))]

    def astype(self, dtype):
        """Return a copy of the model with every parameter cast to ``dtype``."""
        layers = []
        for layer in self.layers:
            twin = copy.copy(layer)
            for name in layer.param_names:
                setattr(twin, name, np.ascontiguousarray(getattr(layer, name), dtype=dtype).copy())
            layers.append(twin)
        return LowRankMLP(layers, self.activation)

    def weights(self):
        """Return the full matrices [W1, ..., WL] (products for factored layers)."""
        return [layer.matrix() for layer in self.layers]

    def forward(self, X):
        """Return the output (n_L x N) and the per-layer caches for ``backward``."""
        caches, pre, hidden = [], [], []
        H = X
        for index, layer in enumerate(self.layers):
            Z, cache = layer.forward(H)
            caches.append(cache)
            if index < len(self.layers) - 1:
                pre.append(Z)
                H = self.activation.f(Z)
                hidden.append(H)
            else:
                H = Z
        return H, (caches, pre, hidden)

    def backward(self, state, output_grad):
        """Backpropagate dLoss/dOutput and return gradients aligned with ``params``."""
        caches, pre, hidden = state
        phi = self.activation
        per_layer = [None] * len(self.layers)
        delta = output_grad
        for index in range(len(self.layers) - 1, -1, -1):
            grads, dH = self.layers[index].backward(delta, caches[index], need_input_grad=index > 0)
            per_layer[index] = grads
            if index > 0:
                # phi'(Z) from the stored phi(Z) where the activation allows it, as in mlp.backward.
                if phi.df_from_output is not None:
                    slope = phi.df_from_output(hidden[index - 1])
                else:
                    slope = phi.df(pre[index - 1])
                delta = dH * slope
        return [G for grads in per_layer for G in grads]

    def loss_and_gradients(self, X, Y, loss="cross_entropy", check_inputs=True):
        """Return ``(loss, grads)`` with one gradient per entry of ``params``.

        X: (n_0, N), Y: (n_L, N). loss: "squared" (summed) or "cross_entropy"
        (averaged), the functions of ``mlp``. check_inputs=False skips the shape
        and finiteness checks, which form every W_l once.
        """
        loss_fn = get_loss(loss)
        if check_inputs:
            validate_network(self.weights(), X, Y)
        output, state = self.forward(X)
        value, output_grad = loss_fn(output, Y)
        return value, self.backward(state, output_grad)

    def predict(self, X):
        return self.forward(X)[0]

    def accuracy(self, X, labels, batch_size=4096):
        """Return the fraction of columns of X whose largest output is at ``labels``."""
        correct = 0
        for start in range(0, X.shape[1], batch_size):
            output = self.predict(X[:, start:start + batch_size])
            correct += int(np.sum(output.argmax(axis=0) == labels[start:start + batch_size]))
        return correct / X.shape[1]

    def trainable_parameters(self, alpha=1.0):
        """Return the number of entries that train: U and V count only when alpha > 0."""
        scales = self.learning_rate_scales(alpha)
        return int(sum(P.size for P, s in zip(self.params, scales, strict=True) if s > 0))

    def flops_per_sample(self):
        """Return ``{"forward": F, "backward": B}``, matrix-multiply FLOPs for one sample.

        A multiply-add counts 2. The backward pass includes the weight
        gradients and the input gradient of every layer but the first.
        Elementwise work (activations, the loss) is not counted.
        """
        forward = backward = 0
        for index, layer in enumerate(self.layers):
            f, b = layer.flops(need_input_grad=index > 0)
            forward, backward = forward + f, backward + b
        return {"forward": forward, "backward": backward}


# ---------------------------------------------------------------------------
# Building models
# ---------------------------------------------------------------------------


def full_mlp(weights, activation):
    """Return a LowRankMLP of dense layers holding copies of ``weights`` [W1, ..., WL]."""
    return LowRankMLP([DenseLayer(W.copy()) for W in weights], activation)


def default_factored_layers(widths, rank):
    """Return the 0-based indices of hidden layers with both sides larger than ``rank``.

    The output layer (the last) is never included.
    """
    return [index for index in range(len(widths) - 2) if min(widths[index], widths[index + 1]) > rank]


def subspace_factors(W_init, G_init, rank):
    """Return (U, S, V) of rank ``rank`` inside the invariant subspace of one layer.

    W_init: (m, n), eps times a semi-orthogonal matrix. G_init: (m, n), the
    layer's gradient at W_init.

    With U_k, V_k the top k = ceil(rank / 2) singular vectors of G_init,
    ``subspace.invariant_subspace`` returns the QR bases of [V_k, W_init^T U_k]
    (input side) and [U_k, W_init V_k] (output side). Their first ``rank``
    columns are kept. So rank = 2K gives the theory's subspace, and an odd
    rank drops the last column.

    For m >= n, V is the input-side basis and U = W_init V / eps. For m < n,
    where W_init / eps is an isometry only on its row space, U is the
    output-side basis and V = W_init^T U / eps. Either way U and V have
    orthonormal columns, S = eps I, and W_init V = U S to rounding.
    """
    m, n = W_init.shape
    if not 1 <= rank < min(m, n):
        raise ValueError(f"rank must be between 1 and min(m, n) - 1 = {min(m, n) - 1}, got {rank}")
    k = math.ceil(rank / 2)
    if 2 * k >= min(m, n):
        # NOTE: an odd rank r needs min(m, n) > r + 1, because the subspace comes in pairs.
        raise ValueError(f"odd rank {rank} needs min(m, n) > {rank + 1} for a {m} x {n} layer; "
                         "use an even rank or a smaller one")
    sub = invariant_subspace(W_init, G_init, k)
    eps = sub.eps
    if m >= n:
        V = sub.V[:, :rank]
        U = W_init @ V / eps
    else:
        U = sub.U[:, :rank]
        V = W_init.T @ U / eps
    S = eps * np.eye(rank, dtype=W_init.dtype)
    return np.ascontiguousarray(U), S, np.ascontiguousarray(V)


def lowrank_mlp(weights_init, activation, init="subspace", rank=None, factored=None, grads_init=None,
                X=None, Y=None, loss="cross_entropy", rng=None):
    """Return a LowRankMLP built from the full network's initialization.

    weights_init: [W1(0), ..., WL(0)], W_l(0) of shape (n_l, n_{l-1}). For
        "subspace" and "random" each factored W_l(0) must be eps_l times a
        semi-orthogonal matrix (``mlp.init_weights(widths, "orthogonal", eps)``).
    init: "subspace", "random" or "plain" (see the module docstring).
    rank: r, default 2K with K = n_L, the number of outputs.
    factored: 0-based indices of the layers to factor; default
        ``default_factored_layers``. Other layers stay dense, as copies of W_l(0).
    grads_init: [G1(0), ..., GL(0)], the full network's gradients at
        weights_init, needed by "subspace"; if None they are computed from X, Y
        and ``loss``.
    rng: seed or Generator for "random" and "plain".
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; expected one of: {', '.join(INITS)}")
    widths = [weights_init[0].shape[1]] + [W.shape[0] for W in weights_init]
    rank = 2 * widths[-1] if rank is None else int(rank)
    factored = default_factored_layers(widths, rank) if factored is None else sorted(factored)
    if any(not 0 <= i < len(weights_init) for i in factored):
        raise ValueError(f"factored layer indices {factored} are out of range for {len(weights_init)} layers")
    if init == "subspace" and grads_init is None and factored:
        if X is None or Y is None:
            raise ValueError('init="subspace" needs grads_init or the training data X, Y')
        _, grads_init = loss_and_gradients(weights_init, X, Y, activation, loss)
    rng = np.random.default_rng(rng)

    layers = []
    for index, W in enumerate(weights_init):
        if index not in factored:
            layers.append(DenseLayer(W.copy()))
            continue
        m, n = W.shape
        if init == "subspace":
            layers.append(FactoredLayer(*subspace_factors(W, grads_init[index], rank), init="subspace"))
        elif init == "random":
            eps = initialization_scale(W)
            U = semi_orthogonal(m, rank, 1.0, rng, W.dtype)
            V = semi_orthogonal(n, rank, 1.0, rng, W.dtype)
            layers.append(FactoredLayer(U, eps * np.eye(rank, dtype=W.dtype), V, init="random"))
        else:
            A = rng.standard_normal((m, rank)) / math.sqrt(rank)
            B = rng.standard_normal((n, rank)) / math.sqrt(n)
            layers.append(PlainFactoredLayer(A.astype(W.dtype), B.astype(W.dtype)))
    return LowRankMLP(layers, activation)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@dataclass
class TrainingRecord:
    """Measurements of one ``train_classifier`` run; per-epoch arrays start before training.

    train_loss: (E + 1,) entry 0 is the loss on the whole training set at
        initialization. Entry e is the loss of epoch e's mini-batches, each
        taken when it was used, so it costs no extra forward pass. It is
        averaged over samples for cross-entropy and summed for the squared loss.
    test_accuracy: (E + 1,) fraction of test samples classified correctly.
    final_train_accuracy: the same on the whole training set after the last epoch.
    epoch_seconds: (E,) wall-clock time of each epoch's updates, without the evaluation.
    """

    train_loss: np.ndarray
    test_accuracy: np.ndarray
    final_train_accuracy: float
    epoch_seconds: np.ndarray


def _sample_weight(loss, n_columns):
    # cross_entropy_loss averages over its batch and squared_loss sums, so a
    # batch's cross-entropy is weighted by its size to form a per-sample mean.
    return n_columns if loss == "cross_entropy" else 1


def dataset_loss(model, X, Y, loss, batch_size=4096):
    """Return the loss of ``model`` on all columns of X, Y, evaluated in chunks of ``batch_size``."""
    loss_fn = get_loss(loss)
    total = 0.0
    for start in range(0, X.shape[1], batch_size):
        columns = slice(start, start + batch_size)
        value, _ = loss_fn(model.predict(X[:, columns]), Y[:, columns])
        total += value * _sample_weight(loss, Y[:, columns].shape[1])
    return total / X.shape[1] if loss == "cross_entropy" else total


def train_classifier(model, dataset, optimizer, epochs, batch_size=128, loss="cross_entropy", seed=0,
                     name="model", log_every=1):
    """Train ``model`` in place by mini-batches and return a TrainingRecord.

    dataset: a ``data.Dataset`` (samples as columns). optimizer: ``gd.Adam`` or
    ``gd.GradientDescent`` built with ``layer_scales=model.learning_rate_scales(alpha)``.
    Each epoch visits a fresh permutation of the training columns, drawn from
    ``seed``, in batches of ``batch_size`` (the last batch may be shorter).
    Test accuracy is measured after every epoch. Progress is logged at INFO
    level every ``log_every`` epochs (0: never) under ``name``. Raises
    gd.DivergenceError if a batch loss becomes NaN or infinite.
    """
    X, Y, labels = dataset.X_train, dataset.Y_train, dataset.labels_train
    validate_network(model.weights(), X, Y)
    validate_network(model.weights(), dataset.X_test, dataset.Y_test)
    optimizer.check_layers(len(model.params))
    n_samples = X.shape[1]
    if not 1 <= batch_size <= n_samples:
        raise ValueError(f"batch_size must be between 1 and N = {n_samples}, got {batch_size}")
    rng = np.random.default_rng(seed)

    train_loss = [dataset_loss(model, X, Y, loss)]
    test_accuracy = [model.accuracy(dataset.X_test, dataset.labels_test)]
    seconds = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(n_samples)
        total = 0.0
        for first in range(0, n_samples, batch_size):
            batch = order[first:first + batch_size]
            value, grads = model.loss_and_gradients(X[:, batch], Y[:, batch], loss, check_inputs=False)
            if not np.isfinite(value):
                raise DivergenceError(f"{name}: loss became {value} in epoch {epoch} with "
                                      f"eta={optimizer.eta:g}; try a smaller eta")
            optimizer.step(model.params, grads)
            total += value * _sample_weight(loss, batch.size)
        seconds.append(time.perf_counter() - start)
        train_loss.append(total / n_samples if loss == "cross_entropy" else total)
        test_accuracy.append(model.accuracy(dataset.X_test, dataset.labels_test))
        if log_every and (epoch % log_every == 0 or epoch == epochs):
            log.info("%s epoch %d/%d  mini-batch loss %.4f  test accuracy %.3f  (%.2f s)", name, epoch,
                     epochs, train_loss[-1], test_accuracy[-1], seconds[-1])
    return TrainingRecord(train_loss=np.array(train_loss), test_accuracy=np.array(test_accuracy),
                          final_train_accuracy=model.accuracy(X, labels), epoch_seconds=np.array(seconds))
