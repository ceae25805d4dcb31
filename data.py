"""Data sets, with samples as columns: X is d x N, Y is K x N.

Synthetic data for the theory, built to be linearly realizable so that a
near-linear network can fit it exactly:

- ``orthogonal_data``: X a random d x d orthogonal matrix (N = d, so
  X X^T = I) and one-hot labels for K classes.
- ``teacher_data``: whitened X with N >= d and Y = T X for a rank-r linear
  teacher T (K x d).

Real data: ``load_mnist1d`` generates MNIST-1D (Greydanus & Kobak) locally.
Also ``one_hot``, ``train_test_split`` and ``standardize``.
"""

import random
from typing import NamedTuple

import numpy as np

from subspace import semi_orthogonal, whiten


def one_hot(labels, K, dtype=np.float64):
    """Return the K x N one-hot matrix of integer ``labels`` (shape (N,), values 0..K-1)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"labels must lie in 0..{K - 1} for K = {K} classes, "
                         f"got values from {labels.min()} to {labels.max()}")
    Y = np.zeros((K, labels.size), dtype=dtype)
    Y[labels, np.arange(labels.size)] = 1.0
    return Y


def balanced_labels(N, K, rng):
    """Return N labels in random order, each of the K classes appearing N // K or N // K + 1 times."""
    return rng.permutation(np.arange(N) % K)


def orthogonal_data(d, K, rng=None, dtype=np.float64):
    """Return (X, Y, labels): X a d x d random orthogonal matrix, Y one-hot K x d.

    With N = d samples and X X^T = I, any Y is fitted exactly by the linear
    map Y X^T, so the data are linearly realizable.
    """
    if not 1 <= K <= d:
        raise ValueError(f"need 1 <= K <= d, got K={K}, d={d}")
    rng = np.random.default_rng(rng)
    X = semi_orthogonal(d, d, 1.0, rng, dtype)
    labels = balanced_labels(d, K, rng)
    return X, one_hot(labels, K, dtype), labels


def teacher_data(d, K, N, rank=None, rng=None, scale=1.0, dtype=np.float64):
    """Return (X, Y, T): whitened X (d x N), a rank-``rank`` teacher T (K x d) and Y = T X.

    T = scale * A B^T with A (K x rank) and B (d x rank) orthonormal columns,
    so its nonzero singular values all equal ``scale``. rank defaults to K.
    """
    rank = K if rank is None else rank
    if N < d:
        raise ValueError(f"teacher_data needs N >= d for whitened X, got N={N}, d={d}")
    if not 1 <= rank <= min(K, d):
        raise ValueError(f"rank must be between 1 and min(K, d) = {min(K, d)}, got {rank}")
    rng = np.random.default_rng(rng)
    X = whiten(rng.standard_normal((d, N)))
    A = semi_orthogonal(K, rank, 1.0, rng)
    B = semi_orthogonal(d, rank, 1.0, rng)
    T = scale * A @ B.T
    return X.astype(dtype), (T @ X).astype(dtype), T.astype(dtype)


def train_test_split(X, Y, test_fraction=0.2, rng=None):
    """Split the columns of X and Y at random; return X_train, Y_train, X_test, Y_test."""
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X has {X.shape[1]} samples but Y has {Y.shape[1]}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(rng)
    order = rng.permutation(X.shape[1])
    n_test = int(round(test_fraction * X.shape[1]))
    if n_test == 0 or n_test == X.shape[1]:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {X.shape[1]} samples")
    test, train = order[:n_test], order[n_test:]
    return X[:, train], Y[:, train], X[:, test], Y[:, test]


def standardize(X_train, X_test):
    """Center and scale each feature (row) with the training set's mean and standard deviation."""
    mean = X_train.mean(axis=1, keepdims=True)
    std = X_train.std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


# ---------------------------------------------------------------------------
# Real data sets
# ---------------------------------------------------------------------------


class Dataset(NamedTuple):
    """A classification data set with samples as columns.

    X_train: (d, N_train), Y_train: (K, N_train) one-hot, labels_train: (N_train,) int64,
    and the same for the test split.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    labels_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    labels_test: np.ndarray

    @property
    def n_classes(self):
        return self.Y_train.shape[0]


def load_mnist1d(n_samples=5000, train_fraction=0.8, seed=42, dtype=np.float64):
    """Generate MNIST-1D with the ``mnist1d`` package's local generator; never downloads.

    Defaults give 40 features, 10 classes, 4000 training and 1000 test
    samples, with the generator settings of ``mnist1d.data.get_dataset_args``
    (mnist1d 0.0.2). seed=42 is that package's default. The package's
    ``get_dataset`` would fetch a pickle over HTTP; this calls its
    ``make_dataset`` instead, which only computes.

    The generator seeds Python's and NumPy's global random state; both are
    restored afterwards, so loading does not disturb other code.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imported here: it pulls in scipy

    args = get_dataset_args()
    args.num_samples = int(n_samples)
    args.train_split = float(train_fraction)
    args.seed = int(seed)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    labels_train = np.asarray(raw["y"], dtype=np.int64)
    labels_test = np.asarray(raw["y_test"], dtype=np.int64)
    n_classes = 10
    return Dataset(
        X_train=np.ascontiguousarray(raw["x"].T, dtype=dtype),
        Y_train=one_hot(labels_train, n_classes, dtype),
        labels_train=labels_train,
        X_test=np.ascontiguousarray(raw["x_test"].T, dtype=dtype),
        Y_test=one_hot(labels_test, n_classes, dtype),
        labels_test=labels_test,
    )
