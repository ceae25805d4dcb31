"""Spectral summaries and the invariant subspace's input checks."""

import numpy as np
import pytest

from subspace import effective_rank, invariant_subspace, semi_orthogonal, top_energy_fraction


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


@pytest.mark.parametrize("m, d", [(12, 8), (8, 8), (6, 10)])
def test_invariant_subspace_bases_are_orthonormal_and_paired(m, d):
    rng = np.random.default_rng(1)
    W = semi_orthogonal(m, d, 0.01, rng)
    sub = invariant_subspace(W, rng.standard_normal((m, d)), K=2)
    r = min(m, d) - 4
    assert sub.U.shape == (m, 4) and sub.V.shape == (d, 4)
    assert sub.U_perp.shape == (m, r) and sub.V_perp.shape == (d, r)
    for Q in (sub.U, sub.V, sub.U_perp, sub.V_perp):
        np.testing.assert_allclose(Q.T @ Q, np.eye(Q.shape[1]), atol=1e-12)
    np.testing.assert_allclose(sub.U.T @ sub.U_perp, 0.0, atol=1e-12)
    np.testing.assert_allclose(sub.V.T @ sub.V_perp, 0.0, atol=1e-12)
    np.testing.assert_allclose(sub.U_perp.T @ W @ sub.V_perp, 0.01 * np.eye(r), atol=1e-14)
    assert sub.eps == pytest.approx(0.01)
