"""Whitening, semi-orthogonal initialization and the invariant subspace.

Notation (samples as columns): X is d x N, W1 is m x d, W2 is K x m.

Covered here: ``whiten`` (X X^T = I_d), ``check_whitened``,
``semi_orthogonal`` (the small initialization W1(0) = eps Q),
``invariant_subspace`` (the 2K-dimensional subspace from the initial
gradient, with its complement), ``closed_form_subspace`` (the same
subspace from X, Y, W2 and W1(0) alone) and the spectral summaries
``effective_rank`` and ``top_energy_fraction``.
"""

import math
from dataclasses import dataclass

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
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive finite scale, got {eps!r}")
    rng = np.random.default_rng(rng)
    big, small = max(m, d), min(m, d)
    Q, R = np.linalg.qr(rng.standard_normal((big, small)))
    Q *= np.sign(np.diag(R))
    block = Q if m >= d else Q.T
    return (eps * block).astype(dtype, copy=False)


# ---------------------------------------------------------------------------
# The invariant subspace from the initial gradient
# ---------------------------------------------------------------------------


@dataclass
class Subspace:
    """Orthonormal bases of the invariant subspace of W (m x d) and of its complement.

    U: (m, 2K) output side S_out. V: (d, 2K) input side S_in.
    U_perp: (m, min(m, d) - 2K) and V_perp: (d, min(m, d) - 2K), paired so
    that U_perp^T W(0) V_perp = eps I.
    eps: the scale of the semi-orthogonal initialization W(0) = eps Q.
    """

    U: np.ndarray
    V: np.ndarray
    U_perp: np.ndarray
    V_perp: np.ndarray
    eps: float


def initialization_scale(W_init, rtol=1e-6):
    """Return eps for W_init = eps Q with Q semi-orthogonal; raise ValueError otherwise.

    Checks the Gram matrix on the smaller side (k x k), which equals
    eps^2 I exactly when W_init is a scaled semi-orthogonal matrix. One matrix
    product costs a fraction of the SVD that the check would otherwise need.
    The test ||Gram - eps^2 I||_F <= tol * eps^2 bounds every |sigma_i^2 - eps^2|
    by tol * eps^2. tol is ``rtol``, raised for float32 input to
    10 * sqrt(k) times float32's machine epsilon, because storing Q in
    float32 already perturbs its Gram matrix by about that much.
    """
    m, d = W_init.shape
    W = np.asarray(W_init, dtype=np.float64)
    gram = W.T @ W if m >= d else W @ W.T
    k = gram.shape[0]
    eps_squared = float(np.trace(gram)) / k
    storage = W_init.dtype if np.issubdtype(W_init.dtype, np.floating) else np.float64
    tol = max(rtol, 10.0 * math.sqrt(k) * float(np.finfo(storage).eps))
    if not eps_squared > 0 or np.linalg.norm(gram - eps_squared * np.eye(k)) > tol * eps_squared:
        s = np.linalg.svd(W_init, compute_uv=False)  # only to describe the failure
        raise ValueError(f"W_init is not a scaled semi-orthogonal matrix: its singular values range "
                         f"from {s.min():.10g} to {s.max():.10g}; use subspace.semi_orthogonal(m, d, eps)")
    return math.sqrt(eps_squared)


def orthonormal_basis(A):
    """Return an orthonormal basis of the column span of A (thin QR; A must have full column rank)."""
    Q, _ = np.linalg.qr(A)
    return Q


def orthogonal_complement(Q):
    """Return an orthonormal basis of the orthogonal complement of span(Q), Q with orthonormal columns."""
    n, k = Q.shape
    full, _ = np.linalg.qr(Q, mode="complete")
    return full[:, k:]


def _check_rank(K, m, d):
    if not (int(K) == K and K >= 1):
        raise ValueError(f"K must be a positive integer, got {K!r}")
    if 2 * K >= min(m, d):
        raise ValueError(f"the subspace needs 2K < min(m, d), got K={K}, m={m}, d={d}")


def subspace_from_spans(W_init, input_span, output_span, eps):
    """Build a Subspace from spanning sets of S_in (d x 2K) and S_out (m x 2K).

    The complement is paired with W(0): for m >= d, V_perp spans
    S_in^perp and U_perp = W(0) V_perp / eps; for m < d the sides swap.
    """
    m, d = W_init.shape
    V = orthonormal_basis(input_span)
    U = orthonormal_basis(output_span)
    if m >= d:
        V_perp = orthogonal_complement(V)
        U_perp = W_init @ V_perp / eps
    else:
        U_perp = orthogonal_complement(U)
        V_perp = W_init.T @ U_perp / eps
    return Subspace(U=U, V=V, U_perp=U_perp, V_perp=V_perp, eps=eps)


def invariant_subspace(W1_init, G1_init, K):
    """Return the 2K-dimensional invariant Subspace of W1 from its initial gradient.

    W1_init: (m, d), eps times a semi-orthogonal matrix. G1_init: (m, d), the
    gradient at initialization. With G1_init = U S V^T and U_K, V_K its top-K
    singular vectors (Xu et al. 2026, arXiv:2602.06208, Theorem 3.5):
        S_in  = span(V_K) + span(W1_init^T U_K)   (in R^d)
        S_out = span(U_K) + span(W1_init V_K)     (in R^m)
    Raises ValueError when 2K >= min(m, d), when the shapes differ, or when
    W1_init is not a scaled semi-orthogonal matrix.
    """
    W1_init, G1_init = np.asarray(W1_init), np.asarray(G1_init)
    if W1_init.ndim != 2 or W1_init.shape != G1_init.shape:
        raise ValueError(f"W1_init {W1_init.shape} and G1_init {G1_init.shape} must be 2-D of the same shape")
    m, d = W1_init.shape
    _check_rank(K, m, d)
    eps = initialization_scale(W1_init)
    U_grad, _, Vt_grad = np.linalg.svd(G1_init, full_matrices=False)
    U_K, V_K = U_grad[:, :K], Vt_grad[:K].T
    input_span = np.hstack([V_K, W1_init.T @ U_K])
    output_span = np.hstack([U_K, W1_init @ V_K])
    return subspace_from_spans(W1_init, input_span, output_span, eps)


def _require_matrix(name, array, shape=None):
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _require_full_column_rank(name, span, rtol=1e-8):
    """Raise ValueError unless ``span`` (columns scaled to unit norm) has full column rank."""
    norms = np.linalg.norm(span, axis=0)
    if np.any(norms == 0):
        raise ValueError(f"{name} has a zero column, so its span is smaller than 2K")
    s = np.linalg.svd(span / norms, compute_uv=False)
    if s[-1] <= rtol * s[0]:
        raise ValueError(f"{name} is rank-deficient (smallest singular value {s[-1]:.3g}, largest "
                         f"{s[0]:.3g}), so it spans fewer than 2K = {span.shape[1]} dimensions; every "
                         "class needs samples, W2 must have full row rank, and the data term must not "
                         "lie in span(W1(0)^T W2^T)")


def closed_form_subspace(X, Y, W1_init, W2):
    """Return the invariant Subspace of W1 built from the data, W2 and W1(0), without a gradient.

    X: (d, N) whitened inputs (X X^T = I_d). Y: (K, N) targets, which fix K.
    W1_init: (m, d), eps times a semi-orthogonal matrix. W2: (K, m), fixed.
    For small eps and phi(0) = 0, the residual at initialization is close to
    -Y, so G1(0) ~ -phi'(0) W2^T Y X^T. Its top-K singular vectors then span
    span(W2^T) on the output side and span(X Y^T) on the input side, and
    the spans of ``invariant_subspace`` become
        S_in  = span(X Y^T) + span(W1_init^T W2^T)   (in R^d)
        S_out = span(W2^T)  + span(W1_init X Y^T)    (in R^m)
    Each basis comes from a thin QR of a d x 2K or m x 2K matrix, with no
    SVD of an m x d matrix.

    For a linear phi the input side S_in equals the gradient-based one to
    rounding. The output side does too when m <= d. For m > d it differs from
    the gradient-based S_out by a principal angle of order eps, because
    W1_init W1_init^T is then a projector rather than the identity. Both
    output sides still contain every update of a linear network, because
    each contains span(W2^T).

    NOTE: for phi(0) != 0 (sigmoid, softplus) the residual at initialization
    is close to phi(0) W2 1 1^T - Y instead, which adds X 1 to the gradient's
    row space. One-hot labels hide this, because X 1 = X Y^T 1 lies in
    span(X Y^T). For other targets this function, which does not take phi,
    misses that direction.

    Raises ValueError on mismatched shapes, 2K >= min(m, d), a W1_init that is
    not scaled semi-orthogonal, an X that is not whitened, or spans of rank
    below 2K.
    """
    X = _require_matrix("X", X)
    d, n_samples = X.shape
    Y = _require_matrix("Y", Y)
    if Y.shape[1] != n_samples:
        raise ValueError(f"X has {n_samples} samples (columns) but Y has {Y.shape[1]}")
    K = Y.shape[0]
    W1_init = _require_matrix("W1_init", W1_init)
    if W1_init.shape[1] != d:
        raise ValueError(f"W1_init has shape {W1_init.shape}, so it expects {W1_init.shape[1]} "
                         f"features, but X has d = {d} rows")
    m = W1_init.shape[0]
    W2 = _require_matrix("W2", W2, shape=(K, m))
    _check_rank(K, m, d)
    eps = initialization_scale(W1_init)
    # Without X X^T = I the gradient's row space picks up X X^T W1(0)^T W2^T
    # instead of W1(0)^T W2^T, and the invariance argument no longer holds.
    check_whitened(X)

    data_term = X @ Y.T                                  # d x K
    input_span = np.hstack([data_term, W1_init.T @ W2.T / eps])
    output_span = np.hstack([W2.T, W1_init @ data_term / eps])
    _require_full_column_rank("the input span [X Y^T, W1_init^T W2^T]", input_span)
    _require_full_column_rank("the output span [W2^T, W1_init X Y^T]", output_span)
    return subspace_from_spans(W1_init, input_span, output_span, eps)


# ---------------------------------------------------------------------------
# Spectral summaries of a matrix
# ---------------------------------------------------------------------------


def effective_rank(M):
    """Return exp of the entropy of M's normalized singular values (Roy & Vetterli 2007).

    It is 1 for a rank-one matrix and min(m, n) when all singular values are equal.
    """
    s = np.linalg.svd(M, compute_uv=False)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def top_energy_fraction(M, k):
    """Return sum of the k largest squared singular values of M over ||M||_F^2 (1.0 for M = 0)."""
    s = np.linalg.svd(M, compute_uv=False)
    total = np.sum(s * s)
    return 1.0 if total == 0 else float(np.sum(s[:k] ** 2) / total)
