"""Synthetic data, labels, splits, whitening and the semi-orthogonal initialization."""

import numpy as np
import pytest

from data import one_hot, orthogonal_data, teacher_data, train_test_split
from subspace import check_whitened, semi_orthogonal, whiten


def test_orthogonal_data_is_whitened_and_one_hot():
    X, Y, labels = orthogonal_data(12, 3, np.random.default_rng(0))
    np.testing.assert_allclose(X @ X.T, np.eye(12), atol=1e-12)
    assert Y.shape == (3, 12)
    np.testing.assert_array_equal(Y.argmax(axis=0), labels)
    np.testing.assert_array_equal(np.bincount(labels), [4, 4, 4])


def test_teacher_data_is_realizable_with_given_rank():
    X, Y, T = teacher_data(d=8, K=4, N=30, rank=2, rng=np.random.default_rng(1))
    np.testing.assert_allclose(X @ X.T, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(Y, T @ X, atol=1e-12)
    sv = np.linalg.svd(T, compute_uv=False)
    np.testing.assert_allclose(sv[:2], 1.0)
    assert sv[2] < 1e-12


def test_data_are_deterministic_for_a_seed():
    a = orthogonal_data(10, 2, np.random.default_rng(3))
    b = orthogonal_data(10, 2, np.random.default_rng(3))
    c = orthogonal_data(10, 2, np.random.default_rng(4))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_one_hot_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="0..2"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="0..2"):
        one_hot(np.array([-1, 0]), 3)
    with pytest.raises(ValueError, match="integers"):
        one_hot(np.array([0.5]), 3)


def test_split_keeps_pairs_together():
    X = np.arange(20.0).reshape(2, 10)
    Y = one_hot(np.arange(10) % 2, 2)
    X_train, Y_train, X_test, Y_test = train_test_split(X, Y, 0.3, rng=0)
    assert X_train.shape == (2, 7)
    assert X_test.shape == (2, 3)
    for Xs, Ys in ((X_train, Y_train), (X_test, Y_test)):
        np.testing.assert_array_equal(Ys.argmax(axis=0), (Xs[0] % 2).astype(int))
    assert sorted(np.concatenate([X_train[0], X_test[0]])) == list(range(10))


def test_whiten_gives_identity_gram_and_keeps_row_space():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 40)) * np.arange(1, 6)[:, None]
    Xw = whiten(X)
    np.testing.assert_allclose(Xw @ Xw.T, np.eye(5), atol=1e-12)
    # Whitening is a left multiplication, so the row space is unchanged.
    P = np.linalg.pinv(X) @ X
    np.testing.assert_allclose(Xw @ P, Xw, atol=1e-12)
    check_whitened(Xw)


def test_whiten_rejects_too_few_samples_and_rank_deficiency():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="N >= d"):
        whiten(rng.standard_normal((6, 4)))
    X = rng.standard_normal((4, 10))
    X[3] = X[0] + X[1]
    with pytest.raises(ValueError, match="rank-deficient"):
        whiten(X)
    with pytest.raises(ValueError, match="not whitened"):
        check_whitened(X)


@pytest.mark.parametrize("m, d", [(8, 5), (5, 5), (3, 7)])
def test_semi_orthogonal_shapes_and_orthonormality(m, d):
    Q = semi_orthogonal(m, d, eps=0.01, rng=0)
    assert Q.shape == (m, d)
    gram = Q.T @ Q if m >= d else Q @ Q.T
    np.testing.assert_allclose(gram, 1e-4 * np.eye(min(m, d)), atol=1e-16)


def test_semi_orthogonal_is_uniform_in_sign():
    # Without the sign fix on R's diagonal, Q[0, 0] would have a biased sign.
    signs = [np.sign(semi_orthogonal(3, 3, rng=seed)[0, 0]) for seed in range(400)]
    assert abs(np.mean(signs)) < 0.15


@pytest.fixture(scope="module")
def small_mnist1d():
    from data import load_mnist1d
    return load_mnist1d(n_samples=500, seed=3)


def test_mnist1d_shapes_and_dtypes(small_mnist1d):
    data = small_mnist1d
    assert data.X_train.shape == (40, 400)
    assert data.X_test.shape == (40, 100)
    assert data.Y_train.shape == (10, 400)
    assert data.Y_test.shape == (10, 100)
    assert data.X_train.dtype == np.float64
    assert data.labels_train.dtype == np.int64
    np.testing.assert_array_equal(data.Y_train.argmax(axis=0), data.labels_train)
    assert set(np.unique(data.labels_train)) == set(range(10))
    assert data.n_classes == 10


def test_mnist1d_default_sizes():
    from data import load_mnist1d
    data = load_mnist1d(dtype=np.float32)
    assert data.X_train.shape == (40, 4000)
    assert data.X_test.shape == (40, 1000)
    assert data.X_train.dtype == np.float32
    assert data.Y_train.dtype == np.float32


def test_mnist1d_is_deterministic_and_keeps_global_state(small_mnist1d):
    from data import load_mnist1d
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    again = load_mnist1d(n_samples=500, seed=3)
    assert np.random.random() == expected_next
    np.testing.assert_array_equal(again.X_train, small_mnist1d.X_train)
    other = load_mnist1d(n_samples=500, seed=4)
    assert not np.array_equal(other.X_train, small_mnist1d.X_train)


def test_mnist1d_opens_no_socket(monkeypatch, tmp_path):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("load_mnist1d tried to open a network socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path)  # a stray pickle cache would land here
    from data import load_mnist1d
    data = load_mnist1d(n_samples=100, seed=0)
    assert data.X_train.shape == (40, 80)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("eps", [0.0, -0.1, float("nan")])
def test_semi_orthogonal_rejects_bad_scale(eps):
    with pytest.raises(ValueError, match="eps"):
        semi_orthogonal(4, 3, eps)
