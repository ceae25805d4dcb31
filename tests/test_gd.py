"""Optimizers and the training loop, including the exact linear two-layer case."""

import numpy as np
import pytest

from data import orthogonal_data, teacher_data
from gd import Adam, DivergenceError, GradientDescent, History, train
from subspace import semi_orthogonal


def two_layer_problem(seed=0, d=12, m=20, K=2, eps=1e-2):
    rng = np.random.default_rng(seed)
    X, Y, _ = orthogonal_data(d, K, rng)
    W1 = semi_orthogonal(m, d, eps, rng)
    W2 = semi_orthogonal(K, m, 1.0, rng)
    return [W1, W2], X, Y


def test_linear_two_layer_fits_with_rank_K_update():
    weights, X, Y = two_layer_problem()
    W1_init = weights[0].copy()
    history = train(weights, X, Y, "linear", GradientDescent(0.5, frozen=[1]), steps=400)
    assert history.loss[-1] < 1e-20
    sv = np.linalg.svd(weights[0] - W1_init, compute_uv=False)
    K = Y.shape[0]
    assert sv[K - 1] > 0.1
    assert sv[K] < 1e-10 * sv[0]


def test_linear_two_layer_on_teacher_data():
    rng = np.random.default_rng(5)
    X, Y, _ = teacher_data(d=10, K=3, N=40, rank=2, rng=rng)
    W1 = semi_orthogonal(16, 10, 1e-2, rng)
    W2 = semi_orthogonal(3, 16, 1.0, rng)
    W1_init = W1.copy()
    history = train([W1, W2], X, Y, "linear", GradientDescent(0.5, frozen=[1]), steps=400)
    assert history.loss[-1] < 1e-20
    sv = np.linalg.svd(W1 - W1_init, compute_uv=False)
    assert sv[3] < 1e-10 * sv[0]  # rank <= K = 3


def test_frozen_layer_does_not_move():
    weights, X, Y = two_layer_problem()
    W2_init = weights[1].copy()
    train(weights, X, Y, "tanh", GradientDescent(0.5, frozen=[1]), steps=20)
    np.testing.assert_array_equal(weights[1], W2_init)


def test_layer_scale_zero_equals_frozen():
    a, X, Y = two_layer_problem()
    b = [W.copy() for W in a]
    train(a, X, Y, "tanh", GradientDescent(0.3, frozen=[0]), steps=10)
    train(b, X, Y, "tanh", GradientDescent(0.3, layer_scales=[0.0, 1.0]), steps=10)
    for Wa, Wb in zip(a, b):
        np.testing.assert_array_equal(Wa, Wb)


def test_gd_step_is_eta_times_gradient():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    grads = [rng.standard_normal((3, 2)), rng.standard_normal((2, 3))]
    expected = [weights[0] - 0.1 * 2.0 * grads[0], weights[1] - 0.1 * 0.5 * grads[1]]
    GradientDescent(0.1, layer_scales=[2.0, 0.5]).step(weights, grads)
    for W, E in zip(weights, expected):
        np.testing.assert_allclose(W, E, rtol=1e-15)


def test_adam_matches_reference_formula():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(3)]
    reference, m, v = W.copy(), np.zeros_like(W), np.zeros_like(W)
    for t, G in enumerate(grads, start=1):
        m = 0.9 * m + 0.1 * G
        v = 0.999 * v + 0.001 * G**2
        reference -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    adam = Adam(0.01)
    for G in grads:
        adam.step([W], [G])
    np.testing.assert_allclose(W, reference, rtol=1e-13)


@pytest.mark.parametrize("make_optimizer", [lambda: GradientDescent(0.2), lambda: Adam(0.01)])
def test_minibatch_training_reduces_loss(make_optimizer):
    weights, X, Y = two_layer_problem(d=20, m=16, K=2, eps=0.3)
    history = train(weights, X, Y, "tanh", make_optimizer(), steps=300, batch_size=5, seed=3,
                    record_every=100)
    assert history.loss[-1] < 0.3 * history.loss[0]
    assert list(history.record_steps) == [0, 100, 200, 300]


def run_sgd(seed):
    weights, X, Y = two_layer_problem(d=20, m=16, K=2, eps=0.3)
    train(weights, X, Y, "tanh", GradientDescent(0.1), steps=25, batch_size=4, seed=seed)
    return weights


def test_same_seed_same_result_bit_for_bit():
    for Wa, Wb in zip(run_sgd(7), run_sgd(7)):
        np.testing.assert_array_equal(Wa, Wb)


def test_different_seeds_differ():
    assert not np.array_equal(run_sgd(7)[0], run_sgd(8)[0])


def test_recorded_singular_values_match_svd():
    weights, X, Y = two_layer_problem()
    seen = []

    def callback(step, current, grads):
        seen.append((np.linalg.svd(current[0], compute_uv=False),
                     np.linalg.svd(grads[0], compute_uv=False)))
        return {"norm_W1": np.linalg.norm(current[0])}

    history = train(weights, X, Y, "tanh", GradientDescent(0.5, frozen=[1]), steps=10,
                    record_every=4, callback=callback)
    assert list(history.record_steps) == [0, 4, 8, 10]
    assert history.weight_sv[0].shape == (4, 12)
    assert history.grad_sv[1].shape == (4, 2)
    for row, (w_sv, g_sv) in enumerate(seen):
        np.testing.assert_allclose(history.weight_sv[0][row], w_sv)
        np.testing.assert_allclose(history.grad_sv[0][row], g_sv)
    np.testing.assert_allclose(history.extra["norm_W1"][-1], np.linalg.norm(weights[0]))


def test_no_recording_computes_no_svd(monkeypatch):
    weights, X, Y = two_layer_problem()

    def fail(*args, **kwargs):
        raise AssertionError("SVD called although nothing is recorded")

    monkeypatch.setattr(np.linalg, "svd", fail)
    history = train(weights, X, Y, "tanh", GradientDescent(0.5), steps=5)
    assert history.record_steps.size == 0
    assert history.loss.shape == (6,)


def test_history_round_trips_through_npz(tmp_path):
    weights, X, Y = two_layer_problem()
    history = train(weights, X, Y, "tanh", GradientDescent(0.5), steps=6, record_every=3,
                    callback=lambda step, w, g: {"step_seen": step})
    history.save(tmp_path / "history.npz")
    loaded = History.load(tmp_path / "history.npz")
    np.testing.assert_array_equal(loaded.loss, history.loss)
    np.testing.assert_array_equal(loaded.record_steps, history.record_steps)
    for a, b in zip(loaded.weight_sv + loaded.grad_sv, history.weight_sv + history.grad_sv):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.extra["step_seen"], [0, 3, 6])


def test_divergence_names_step_and_learning_rate():
    weights, X, Y = two_layer_problem(eps=1.0)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match=r"step \d+.*eta=50.*smaller"):
        train(weights, X, Y, "linear", GradientDescent(50.0), steps=500)


def test_bad_optimizer_settings():
    with pytest.raises(ValueError, match="eta"):
        GradientDescent(-1.0)
    weights, X, Y = two_layer_problem()
    with pytest.raises(ValueError, match="frozen"):
        train(weights, X, Y, "tanh", GradientDescent(0.1, frozen=[2]), steps=1)
    with pytest.raises(ValueError, match="layer_scales"):
        train(weights, X, Y, "tanh", GradientDescent(0.1, layer_scales=[1.0]), steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        train(weights, X, Y, "tanh", GradientDescent(0.1), steps=1, batch_size=0)
