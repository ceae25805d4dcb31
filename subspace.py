"""Whitening, semi-orthogonal initialization and the invariant subspace.

Notation (samples as columns): X is d x N, W1 is m x d, W2 is K x m.

Covered here: ``whiten`` (X X^T = I_d), ``check_whitened`` and
``semi_orthogonal`` (the small initialization W1(0) = eps Q).
"""

import numpy as np


def whiten(X, rtol=1e-10):
    """Return the symmetric whitening (X X^T)^(-1/2) X, so that the result has X X^T = I_d.

    X: (d, N) with N >= d and rank d. No centering is done: the theory's
    condition is X X^T = I, not a unit covariance.
    With the thin SVD X = U S V^T the result is U V^T, the whitened matrix
    closest to X in Frobenius norm.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (features x samples), got shape {X.shape}")
    d, n_samples = X.shape
    if n_samples < d:
        raise ValueError(f"X has N = {n_samples} samples for d = {d} features; whitening needs N >= d")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    if s[-1] <= rtol * s[0]:
        raise ValueError(f"X is rank-deficient (smallest singular value {s[-1]:.3g}, largest "
                         f"{s[0]:.3g}); whitening needs rank d = {d}. Remove redundant features "
                         "or reduce d (e.g. project onto the leading principal components).")
    return U @ Vt


def check_whitened(X, atol=1e-6):
    """Raise ValueError unless X X^T = I_d to within ``atol`` (max entry error)."""
    error = np.max(np.abs(X @ X.T - np.eye(X.shape[0], dtype=X.dtype)))
    if not error <= atol:
        raise ValueError(f"X is not whitened: max |X X^T - I| = {error:.3g} > {atol:g}; "
                         "call subspace.whiten(X) first")


def semi_orthogonal(m, d, eps=1.0, rng=None, dtype=np.float64):
    """Return eps * Q with Q an m x d semi-orthogonal matrix drawn uniformly.

    Q has orthonormal columns when m >= d and orthonormal rows when m < d.
    It is the leading m x d block of a Haar-random orthogonal matrix, drawn
    as the QR factor of a Gaussian matrix with R's diagonal made positive
    (Mezzadri 2007, "How to generate random matrices from the classical
    compact groups").
    """
    if not (int(m) == m and int(d) == d and m > 0 and d > 0):
        raise ValueError(f"m and d must be positive integers, got m={m!r}, d={d!r}")
    rng = np.random.default_rng(rng)
    big, small = max(m, d), min(m, d)
    Q, R = np.linalg.qr(rng.standard_normal((big, small)))
    Q *= np.sign(np.diag(R))
    block = Q if m >= d else Q.T
    return (eps * block).astype(dtype, copy=False)
