"""The invariant subspace (from the gradient and in closed form) and the metrics that measure it."""

import numpy as np
import pytest

from data import teacher_data
from metrics import (
    compare_subspaces,
    complement_drift,
    count_moved_singular_values,
    gradient_energy_in_subspace,
    gradient_tail_ratio,
    linearization_error,
    principal_angles,
    stable_rank,
    update_energy_in_subspace,
)
from mlp import loss_and_gradients
from subspace import (
    Subspace,
    closed_form_subspace,
    effective_rank,
    invariant_subspace,
    orthonormal_basis,
    semi_orthogonal,
    top_energy_fraction,
    whiten,
)

SHAPES = [(12, 8), (8, 8), (6, 10)]  # m > d, m = d, m < d


def random_problem(m, d, K=2, N=None, eps=1e-2, seed=0):
    """Return whitened X (d, N), teacher targets Y (K, N), W1(0) = eps Q (m, d) and W2 (K, m)."""
    rng = np.random.default_rng(seed)
    X, Y, _ = teacher_data(d, K, N or 2 * d, rng=rng)
    W1 = semi_orthogonal(m, d, eps, rng)
    W2 = semi_orthogonal(K, m, 1.0, rng)
    return X, Y, W1, W2


def projector(A):
    """Return the orthogonal projector onto span(A) as A pinv(A), with no QR involved."""
    return A @ np.linalg.pinv(A)


def check_paired_bases(sub, W1, K):
    m, d = W1.shape
    r = min(m, d) - 2 * K
    assert sub.U.shape == (m, 2 * K)
    assert sub.V.shape == (d, 2 * K)
    assert sub.U_perp.shape == (m, r)
    assert sub.V_perp.shape == (d, r)
    for Q in (sub.U, sub.V, sub.U_perp, sub.V_perp):
        np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    np.testing.assert_allclose(sub.U.T @ sub.U_perp, 0.0, atol=1e-12)
    np.testing.assert_allclose(sub.V.T @ sub.V_perp, 0.0, atol=1e-12)
    np.testing.assert_allclose(sub.U_perp.T @ W1 @ sub.V_perp, sub.eps * np.eye(r), atol=1e-14)


# ---------------------------------------------------------------------------
# Spectral summaries in subspace.py
# ---------------------------------------------------------------------------


def test_effective_rank_closed_forms():
    assert effective_rank(np.outer([1.0, 2.0, 3.0], [1.0, -1.0])) == pytest.approx(1.0)
    assert effective_rank(3.0 * np.eye(5)) == pytest.approx(5.0)
    # singular values (3, 1): p = (0.75, 0.25)
    p = np.array([0.75, 0.25])
    assert effective_rank(np.diag([3.0, 1.0])) == pytest.approx(np.exp(-np.sum(p * np.log(p))))


def test_top_energy_fraction_closed_form():
    M = np.diag([3.0, 2.0, 1.0])
    assert top_energy_fraction(M, 1) == pytest.approx(9 / 14)
    assert top_energy_fraction(M, 2) == pytest.approx(13 / 14)
    assert top_energy_fraction(np.zeros((3, 3)), 1) == 1.0


# ---------------------------------------------------------------------------
# The subspace from the initial gradient
# ---------------------------------------------------------------------------


def test_invariant_subspace_rejects_bad_inputs():
    rng = np.random.default_rng(0)
    W = semi_orthogonal(10, 8, 0.01, rng)
    G = rng.standard_normal((10, 8))
    with pytest.raises(ValueError, match="2K < min"):
        invariant_subspace(W, G, K=4)
    with pytest.raises(ValueError, match="semi-orthogonal"):
        invariant_subspace(rng.standard_normal((10, 8)), G, K=2)
    with pytest.raises(ValueError, match="same shape"):
        invariant_subspace(W, G[:, :7], K=2)


@pytest.mark.parametrize("m, d", SHAPES)
def test_invariant_subspace_bases_are_orthonormal_and_paired(m, d):
    rng = np.random.default_rng(1)
    W = semi_orthogonal(m, d, 0.01, rng)
    sub = invariant_subspace(W, rng.standard_normal((m, d)), K=2)
    check_paired_bases(sub, W, K=2)
    assert sub.eps == pytest.approx(0.01)


@pytest.mark.parametrize("m, d", SHAPES)
def test_invariant_subspace_matches_pinv_projector(m, d):
    rng = np.random.default_rng(2)
    K = 2
    W1 = semi_orthogonal(m, d, 0.01, rng)
    G = rng.standard_normal((m, d))
    sub = invariant_subspace(W1, G, K)
    U_full, _, Vt_full = np.linalg.svd(G)
    U_K, V_K = U_full[:, :K], Vt_full[:K].T
    np.testing.assert_allclose(sub.V @ sub.V.T, projector(np.hstack([V_K, W1.T @ U_K])), atol=1e-10)
    np.testing.assert_allclose(sub.U @ sub.U.T, projector(np.hstack([U_K, W1 @ V_K])), atol=1e-10)


# ---------------------------------------------------------------------------
# The closed-form subspace
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("m, d", SHAPES)
def test_closed_form_bases_are_orthonormal_and_paired(m, d):
    X, Y, W1, W2 = random_problem(m, d, seed=3)
    sub = closed_form_subspace(X, Y, W1, W2)
    assert isinstance(sub, Subspace)
    check_paired_bases(sub, W1, K=2)
    assert sub.eps == pytest.approx(1e-2)


@pytest.mark.parametrize("m, d", SHAPES)
def test_closed_form_matches_pinv_projector(m, d):
    X, Y, W1, W2 = random_problem(m, d, seed=4)
    sub = closed_form_subspace(X, Y, W1, W2)
    np.testing.assert_allclose(sub.V @ sub.V.T, projector(np.hstack([X @ Y.T, W1.T @ W2.T])), atol=1e-10)
    np.testing.assert_allclose(sub.U @ sub.U.T, projector(np.hstack([W2.T, W1 @ X @ Y.T])), atol=1e-10)


@pytest.mark.parametrize("m, d", SHAPES)
def test_closed_form_matches_linear_gradient_input_side(m, d):
    # For a linear phi, G1(0) = W2^T (W2 W1 - Y X^T) has row space inside
    # span(X Y^T) + span(W1^T W2^T), so the two S_in agree to rounding.
    X, Y, W1, W2 = random_problem(m, d, seed=5)
    _, (G1, _) = loss_and_gradients([W1, W2], X, Y, "linear")
    agreement = compare_subspaces(invariant_subspace(W1, G1, 2), closed_form_subspace(X, Y, W1, W2))
    assert agreement["input"]["largest_angle"] < 1e-9
    if m <= d:
        assert agreement["output"]["largest_angle"] < 1e-9


@pytest.mark.parametrize("eps", [1e-2, 1e-3])
def test_closed_form_output_angle_order_eps(eps):
    # The gradient-based S_out contains W1 V_K, which for m > d has a part
    # eps W1 W1^T W2^T outside span(W2^T) + span(W1 X Y^T).
    X, Y, W1, W2 = random_problem(12, 8, eps=eps, seed=6)
    _, (G1, _) = loss_and_gradients([W1, W2], X, Y, "linear")
    angle = compare_subspaces(invariant_subspace(W1, G1, 2),
                              closed_form_subspace(X, Y, W1, W2))["output"]["largest_angle"]
    assert 1e-3 * eps < angle < 10 * eps


def test_closed_form_rejects_bad_inputs():
    X, Y, W1, W2 = random_problem(12, 8, seed=7)
    with pytest.raises(ValueError, match="samples"):
        closed_form_subspace(X, Y[:, :-1], W1, W2)
    with pytest.raises(ValueError, match="features"):
        closed_form_subspace(X, Y, W1[:, :-1], W2)
    with pytest.raises(ValueError, match="W2 has shape"):
        closed_form_subspace(X, Y, W1, W2.T)
    with pytest.raises(ValueError, match="2-D"):
        closed_form_subspace(X[0], Y, W1, W2)
    with pytest.raises(ValueError, match="NaN"):
        closed_form_subspace(np.full_like(X, np.nan), Y, W1, W2)
    with pytest.raises(ValueError, match="semi-orthogonal"):
        closed_form_subspace(X, Y, W1 + 1e-3, W2)
    with pytest.raises(ValueError, match="not whitened"):
        closed_form_subspace(2.0 * X, Y, W1, W2)


def test_closed_form_rejects_too_many_classes():
    X, Y, W1, W2 = random_problem(12, 8, K=4, seed=8)
    with pytest.raises(ValueError, match="2K < min"):
        closed_form_subspace(X, Y, W1, W2)


def test_closed_form_rejects_empty_class():
    X, Y, W1, W2 = random_problem(12, 8, seed=9)
    Y = Y.copy()
    Y[1] = 0.0
    with pytest.raises(ValueError, match="zero column"):
        closed_form_subspace(X, Y, W1, W2)
    Y[1] = 2.0 * Y[0]
    with pytest.raises(ValueError, match="rank-deficient"):
        closed_form_subspace(X, Y, W1, W2)


# ---------------------------------------------------------------------------
# Principal angles
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("theta", [0.3, 1.2, 1e-10])
def test_principal_angles_of_known_planes(theta):
    # span(e1, e2) and span(e1, cos(theta) e2 + sin(theta) e3) share e1.
    A1 = np.eye(4)[:, :2]
    A2 = np.array([[1.0, 0.0], [0.0, np.cos(theta)], [0.0, np.sin(theta)], [0.0, 0.0]])
    angles = principal_angles(A1, A2)
    assert angles[0] == pytest.approx(0.0, abs=1e-15)    # smallest angle
    assert angles[-1] == pytest.approx(theta, rel=1e-9)   # largest angle


def test_principal_angles_orthogonal_and_unequal_dimensions():
    A1 = np.eye(5)[:, :2]
    np.testing.assert_allclose(principal_angles(A1, np.eye(5)[:, 2:5]), [np.pi / 2, np.pi / 2])
    # a line inside a plane: one angle, 0
    line = np.array([[0.6], [0.8], [0.0], [0.0], [0.0]])
    np.testing.assert_allclose(principal_angles(A1, line), [0.0], atol=1e-15)
    np.testing.assert_allclose(principal_angles(line, A1), [0.0], atol=1e-15)


def test_principal_angles_match_scipy():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(10)
    for p, q in [(3, 3), (2, 4), (5, 1)]:
        A1 = orthonormal_basis(rng.standard_normal((9, p)))
        A2 = orthonormal_basis(rng.standard_normal((9, q)))
        expected = np.sort(linalg.subspace_angles(A1, A2))  # scipy returns largest first
        np.testing.assert_allclose(principal_angles(A1, A2), expected, rtol=1e-10, atol=1e-14)


def test_principal_angles_reject_non_orthonormal():
    with pytest.raises(ValueError, match="orthonormal"):
        principal_angles(2.0 * np.eye(3)[:, :2], np.eye(3)[:, :2])
    with pytest.raises(ValueError, match="same space"):
        principal_angles(np.eye(3)[:, :2], np.eye(4)[:, :2])


def test_compare_subspaces_identical_is_zero():
    rng = np.random.default_rng(11)
    W = semi_orthogonal(12, 8, 0.01, rng)
    sub = invariant_subspace(W, rng.standard_normal((12, 8)), K=2)
    result = compare_subspaces(sub, sub)
    for side in ("input", "output"):
        assert result[side]["largest_angle"] < 1e-12
        assert result[side]["smallest_angle"] < 1e-12
        assert result[side]["cos_largest_angle"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------
# Metrics against a Subspace
# ---------------------------------------------------------------------------


@pytest.fixture
def subspace_and_init():
    rng = np.random.default_rng(12)
    W1 = semi_orthogonal(12, 8, 0.01, rng)
    return invariant_subspace(W1, rng.standard_normal((12, 8)), K=2), W1


def test_complement_drift_closed_forms(subspace_and_init):
    sub, W1 = subspace_and_init
    assert complement_drift(W1, sub) < 1e-12
    # moving one complement singular value by delta gives drift delta / eps
    delta = 3e-3
    moved = W1 + delta * np.outer(sub.U_perp[:, 0], sub.V_perp[:, 0])
    assert complement_drift(moved, sub) == pytest.approx(delta / 0.01, rel=1e-10)
    # a change inside the subspace leaves the complement block alone
    inside = W1 + 5.0 * np.outer(sub.U[:, 0], sub.V[:, 1])
    assert complement_drift(inside, sub) < 1e-12


def test_update_energy_closed_forms(subspace_and_init):
    sub, W1 = subspace_and_init
    inside = np.outer(sub.U[:, 0], sub.V[:, 1])         # unit Frobenius norm
    outside = np.outer(sub.U_perp[:, 0], sub.V_perp[:, 2])
    assert update_energy_in_subspace(W1, W1, sub) == 1.0
    assert update_energy_in_subspace(W1 + 2.0 * inside, W1, sub) == pytest.approx(1.0)
    assert update_energy_in_subspace(W1 + outside, W1, sub) == pytest.approx(0.0, abs=1e-15)
    assert update_energy_in_subspace(W1 + 3.0 * inside + outside, W1, sub) == pytest.approx(0.9)


def test_gradient_energy_closed_forms(subspace_and_init):
    sub, _ = subspace_and_init
    inside = np.outer(sub.U[:, 1], sub.V[:, 0])
    outside = np.outer(sub.U_perp[:, 1], sub.V_perp[:, 0])
    assert gradient_energy_in_subspace(np.zeros((12, 8)), sub) == 1.0
    assert gradient_energy_in_subspace(inside + outside, sub) == pytest.approx(0.5)
    assert gradient_energy_in_subspace(outside, sub) == pytest.approx(0.0, abs=1e-15)


# ---------------------------------------------------------------------------
# Spectral metrics of one matrix
# ---------------------------------------------------------------------------


def rotate(s, seed=13):
    """Return a 6 x 4 matrix with singular values s, hidden behind random orthogonal factors."""
    rng = np.random.default_rng(seed)
    return semi_orthogonal(6, 4, 1.0, rng) @ np.diag(s) @ semi_orthogonal(4, 4, 1.0, rng)


def test_gradient_tail_ratio_closed_form():
    assert gradient_tail_ratio(rotate([3.0, 2.0, 1.0, 0.5]), K=2) == pytest.approx(1 / 3)
    assert gradient_tail_ratio(rotate([3.0, 2.0, 0.0, 0.0]), K=2) < 1e-15
    assert gradient_tail_ratio(np.zeros((6, 4)), K=1) == 0.0
    with pytest.raises(ValueError, match="K must"):
        gradient_tail_ratio(np.eye(4), K=4)


def test_stable_rank_closed_forms():
    assert stable_rank(rotate([3.0, 1.0, 0.0, 0.0])) == pytest.approx(10 / 9)
    assert stable_rank(np.outer([1.0, 2.0], [3.0, 4.0, 5.0])) == pytest.approx(1.0)
    assert stable_rank(2.0 * np.eye(5)) == pytest.approx(5.0)
    assert stable_rank(np.zeros((3, 3))) == 0.0


def test_count_moved_singular_values():
    eps = 0.01
    W = rotate([eps, 1.05 * eps, 2.0 * eps, 0.5 * eps])
    assert count_moved_singular_values(W, eps, rtol=0.1) == 2
    assert count_moved_singular_values(W, eps, rtol=0.01) == 3
    assert count_moved_singular_values(semi_orthogonal(6, 4, eps, 0), eps, rtol=1e-9) == 0
    with pytest.raises(ValueError, match="eps must be positive"):
        count_moved_singular_values(W, 0.0)


def test_linearization_error_closed_forms():
    one = np.ones((1, 1))
    a = 0.7
    W1 = np.array([[a]])
    assert linearization_error(W1, one, one, "tanh") == pytest.approx(abs(np.tanh(a) - a) / np.tanh(a))
    assert linearization_error(W1, one, one, "linear") == 0.0
    # ReLU: mlp's phi'(0) is 0, so the linear model is 0 and the error is 1;
    # with the mean one-sided slope 1/2 the model is a/2 and the error 1/2.
    assert linearization_error(W1, one, one, "relu") == pytest.approx(1.0)
    assert linearization_error(W1, one, one, "relu", slope=0.5) == pytest.approx(0.5)
    # sigmoid(0) = 1/2 is part of the linear model, so W1 = 0 is exact
    assert linearization_error(np.zeros((1, 1)), one, one, "sigmoid") == 0.0


def test_linearization_error_shrinks_with_scale():
    # tanh(z) - z = -z^3 / 3 + O(z^5), so the relative error scales like eps^2.
    X, _, W1, W2 = random_problem(12, 8, eps=1.0, seed=14)
    errors = [linearization_error(scale * W1, W2, X, "tanh") for scale in (1e-2, 1e-3)]
    assert errors[0] / errors[1] == pytest.approx(100.0, rel=1e-3)


def test_whiten_then_closed_form():
    rng = np.random.default_rng(15)
    X = whiten(rng.standard_normal((8, 20)))
    Y = rng.standard_normal((2, 20))
    W1 = semi_orthogonal(12, 8, 0.01, rng)
    W2 = semi_orthogonal(2, 12, 1.0, rng)
    check_paired_bases(closed_form_subspace(X, Y, W1, W2), W1, K=2)


def test_initialization_scale_float32_and_rejection():
    from subspace import initialization_scale

    W = semi_orthogonal(1024, 784, 0.5, rng=0, dtype=np.float32)
    assert initialization_scale(W) == pytest.approx(0.5, rel=1e-6)
    W64 = semi_orthogonal(60, 30, 0.01, rng=1)
    assert initialization_scale(W64) == pytest.approx(0.01, rel=1e-12)
    W64[0] *= 1.001  # one singular value moves by about 1e-4 relative
    with pytest.raises(ValueError, match="semi-orthogonal"):
        initialization_scale(W64)


def test_tail_ratio_matches_gradient_tail_ratio():
    from metrics import gradient_tail_ratio, tail_ratio

    rng = np.random.default_rng(5)
    G = rng.standard_normal((9, 7))
    s = np.linalg.svd(G, compute_uv=False)
    assert tail_ratio(s, 2) == pytest.approx(gradient_tail_ratio(G, 2), rel=1e-14)
    rows = tail_ratio(np.vstack([s, np.zeros_like(s)]), 2)
    np.testing.assert_allclose(rows, [s[2] / s[0], 0.0])
