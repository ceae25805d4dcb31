"""Measurements of how far training stays inside the invariant subspace.

Notation (samples as columns): X is d x N, W1 is m x d, W2 is K x m, and a
``subspace.Subspace`` contains orthonormal bases U (m x 2K), V (d x 2K) and the
paired complement U_perp, V_perp with U_perp^T W1(0) V_perp = eps I.

Covered here:

- ``principal_angles`` between two column spans, and
  ``compare_subspaces``, which reports the smallest and the largest angle on
  each side of two Subspaces;
- ``complement_drift``, ``update_energy_in_subspace`` and
  ``gradient_energy_in_subspace``, which measure a weight or a gradient
  against a Subspace;
- ``gradient_tail_ratio`` (sigma_{K+1} / sigma_1), ``stable_rank`` and
  ``count_moved_singular_values``, spectral summaries of one matrix;
- ``linearization_error`` of the two-layer model W2 phi(W1 X).

Left out: anything that trains. The experiment scripts call these inside a
``gd.train`` callback.
"""

import numpy as np

from mlp import get_activation

# ---------------------------------------------------------------------------
# Principal angles
# ---------------------------------------------------------------------------


def _require_orthonormal(name, A, atol=1e-8):
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D basis (one vector per column), got shape {A.shape}")
    error = np.max(np.abs(A.T @ A - np.eye(A.shape[1]))) if A.shape[1] else 0.0
    if not error <= atol:
        raise ValueError(f"{name} does not have orthonormal columns (max |A^T A - I| = {error:.3g}); "
                         "pass subspace.orthonormal_basis(A) instead")
    return A


def principal_angles(A1, A2):
    """Return the principal angles between span(A1) and span(A2), in radians, smallest first.

    A1: (n, p) and A2: (n, q), both with orthonormal columns. Returns
    min(p, q) angles in [0, pi/2]. Their cosines are the singular values of
    A1^T A2. Angles below pi/4 are taken from their sines, the singular values
    of the part of the smaller basis outside the larger span, because arccos
    loses about half the digits near cos = 1. This is the scheme of Knyazev &
    Argentati (2002), "Principal angles between subspaces in an A-based scalar
    product", SIAM J. Sci. Comput. 23, which scipy.linalg.subspace_angles also
    follows (in the opposite order, largest first).
    """
    A1 = _require_orthonormal("A1", A1)
    A2 = _require_orthonormal("A2", A2)
    if A1.shape[0] != A2.shape[0]:
        raise ValueError(f"A1 has {A1.shape[0]} rows and A2 has {A2.shape[0]}; both bases must "
                         "live in the same space")
    big, small = (A1, A2) if A1.shape[1] >= A2.shape[1] else (A2, A1)
    cosines = np.linalg.svd(big.T @ small, compute_uv=False)            # largest first
    sines = np.linalg.svd(small - big @ (big.T @ small), compute_uv=False)[::-1]  # smallest first
    from_cosines = np.arccos(np.clip(cosines, 0.0, 1.0))
    from_sines = np.arcsin(np.clip(sines, 0.0, 1.0))
    return np.where(sines * sines <= 0.5, from_sines, from_cosines)


def compare_subspaces(first, second):
    """Return the smallest and largest principal angles between two Subspaces, side by side.

    first, second: ``subspace.Subspace`` of the same matrix shape.
    Returns {"input": {...}, "output": {...}}, comparing V with V (in R^d)
    and U with U (in R^m). Each side has "smallest_angle" and
    "largest_angle" in radians and "cos_largest_angle", the smallest cosine,
    which is 1 only when the spans coincide.
    """
    result = {}
    for side, name in (("input", "V"), ("output", "U")):
        angles = principal_angles(getattr(first, name), getattr(second, name))
        result[side] = {"smallest_angle": float(angles[0]), "largest_angle": float(angles[-1]),
                        "cos_largest_angle": float(np.cos(angles[-1]))}
    return result


# ---------------------------------------------------------------------------
# A weight or gradient measured against a Subspace
# ---------------------------------------------------------------------------


def complement_drift(W1, subspace):
    """Return ||U_perp^T W1 V_perp - eps I||_F / eps, zero when the complement block has not moved.

    W1: (m, d). subspace: the Subspace of W1(0) = eps Q. The theory predicts
    0 for a linear activation and a small value for a smooth one.
    """
    block = subspace.U_perp.T @ W1 @ subspace.V_perp
    block = block - subspace.eps * np.eye(block.shape[0])
    return float(np.linalg.norm(block) / subspace.eps)


def _energy_fraction(M, subspace):
    total = np.sum(M * M)
    if total == 0:
        return 1.0
    inside = subspace.U.T @ M @ subspace.V
    return float(np.sum(inside * inside) / total)


def update_energy_in_subspace(W1, W1_init, subspace):
    """Return ||U^T (W1 - W1_init) V||_F^2 / ||W1 - W1_init||_F^2, the update's share inside the subspace.

    W1, W1_init: (m, d). U: (m, 2K) and V: (d, 2K) from ``subspace``.
    Returns 1.0 when W1 equals W1_init (no update yet), the convention of
    ``subspace.top_energy_fraction`` for a zero matrix.
    """
    return _energy_fraction(W1 - W1_init, subspace)


def gradient_energy_in_subspace(G1, subspace):
    """Return ||U^T G1 V||_F^2 / ||G1||_F^2, the share of one gradient inside the subspace (1.0 for G1 = 0).

    G1: (m, d), the gradient of the loss with respect to W1 at some step.
    """
    return _energy_fraction(G1, subspace)


# ---------------------------------------------------------------------------
# Spectral summaries of one matrix
# ---------------------------------------------------------------------------


def gradient_tail_ratio(G, K):
    """Return sigma_{K+1}(G) / sigma_1(G), small when G is close to rank K (0.0 for G = 0).

    G: (m, d) with min(m, d) > K. The working assumption of the theory is
    that this stays small for the gradient of W1 throughout training.
    """
    return tail_ratio(np.linalg.svd(G, compute_uv=False), K)


def tail_ratio(singular_values, K):
    """Return s[K] / s[0] for singular values in decreasing order; rows of a 2-D array each give one.

    Lets a caller reuse singular values it already has, such as
    ``gd.History.grad_sv``, instead of taking the SVD again.
    """
    s = np.asarray(singular_values)
    if not (int(K) == K and 1 <= K < s.shape[-1]):
        raise ValueError(f"K must be an integer between 1 and min(m, d) - 1 = {s.shape[-1] - 1}, got {K!r}")
    first = s[..., 0]
    ratio = np.divide(s[..., K], first, out=np.zeros_like(first, dtype=np.float64), where=first != 0)
    return float(ratio) if ratio.ndim == 0 else ratio


def stable_rank(M):
    """Return ||M||_F^2 / ||M||_2^2, a rank surrogate between 1 and rank(M) (0.0 for M = 0)."""
    s = np.linalg.svd(M, compute_uv=False)
    return 0.0 if s[0] == 0 else float(np.sum(s * s) / (s[0] * s[0]))


def count_moved_singular_values(W, eps, rtol=0.1):
    """Return how many singular values of W differ from eps by more than rtol * eps.

    W: (m, d). At W = W1(0) = eps Q the count is 0. The theory allows at most
    2K for a smooth activation. rtol sets the line between moved and
    unmoved, so report it with the count.
    """
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}")
    s = np.linalg.svd(W, compute_uv=False)
    return int(np.sum(np.abs(s - eps) > rtol * eps))


# ---------------------------------------------------------------------------
# Distance from the linear model
# ---------------------------------------------------------------------------


def linearization_error(W1, W2, X, activation, slope=None):
    """Return ||W2 phi(W1 X) - W2 (phi(0) + phi'(0) W1 X)||_F / ||W2 phi(W1 X)||_F.

    W1: (m, d), W2: (K, m), X: (d, N). activation: a name or mlp.Activation.
    phi(0) is 0 for every activation the experiments use, which leaves
    ||W2 phi(W1 X) - phi'(0) W2 W1 X||_F / ||W2 phi(W1 X)||_F.
    slope overrides phi'(0). mlp takes ReLU's derivative at 0 as 0, which
    makes its error 1 by construction, so a caller may pass 0.5, the mean
    of its one-sided slopes. Returns 0.0 when the output is zero.
    """
    phi = get_activation(activation)
    slope = phi.slope_at_0 if slope is None else float(slope)
    Z = W1 @ X
    output = W2 @ phi.f(Z)
    linear = W2 @ (phi.value_at_0 + slope * Z)
    norm = np.linalg.norm(output)
    return 0.0 if norm == 0 else float(np.linalg.norm(output - linear) / norm)
