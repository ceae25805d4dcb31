"""Low-rank MLP: subspace initialization, factor gradients, costs, training and the two scripts."""

import gzip
import json

import numpy as np
import pytest

import data
import lowrank as lr
from data import Dataset, load_mnist1d, one_hot, standardize
from gd import Adam
from mlp import check_gradients, init_weights, loss_and_gradients
from subspace import invariant_subspace

# Depth 2 and 3; the second depth-3 network has a layer with fewer outputs
# than inputs (10 x 16), where the output side of the subspace is used.
NETWORKS = {"depth2": [12, 16, 3], "depth3": [12, 16, 14, 3], "depth3_shrinking": [14, 16, 10, 3]}
LOSSES = ("squared", "cross_entropy")


def small_problem(widths, seed=0, eps=0.1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((widths[0], 24))
    labels = rng.integers(0, widths[-1], X.shape[1])
    weights = init_weights(widths, "orthogonal", eps, rng)
    return weights, X, one_hot(labels, widths[-1]), labels


def build(weights, X, Y, init, loss="cross_entropy", rank=None, activation="tanh"):
    return lr.lowrank_mlp(weights, activation, init=init, rank=rank, X=X, Y=Y, loss=loss, rng=7)


# ---------------------------------------------------------------------------
# Initialization
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("network", list(NETWORKS))
def test_subspace_init_reproduces_w0_on_v(network):
    weights, X, Y, _ = small_problem(NETWORKS[network])
    model = build(weights, X, Y, "subspace")
    factored = [i for i, layer in enumerate(model.layers) if layer.kind == "factored"]
    assert factored == lr.default_factored_layers(NETWORKS[network], 2 * Y.shape[0])
    assert factored  # every network above has at least one factored layer
    for index in factored:
        layer = model.layers[index]
        U, S, V = layer.U, layer.S, layer.V
        assert np.max(np.abs(weights[index] @ V - U @ S)) < 1e-12
        np.testing.assert_allclose(U.T @ U, np.eye(layer.rank), atol=1e-12)
        np.testing.assert_allclose(V.T @ V, np.eye(layer.rank), atol=1e-12)
        np.testing.assert_allclose(S, 0.1 * np.eye(layer.rank), atol=1e-15)
        # On the complement of span(V) the factored layer is zero.
        np.testing.assert_allclose(layer.matrix(), weights[index] @ V @ V.T, atol=1e-12)


def test_subspace_init_spans_invariant_subspace():
    widths = NETWORKS["depth3_shrinking"]
    weights, X, Y, _ = small_problem(widths)
    K = Y.shape[0]
    _, grads = loss_and_gradients(weights, X, Y, "tanh", "cross_entropy")
    model = lr.lowrank_mlp(weights, "tanh", init="subspace", grads_init=grads)
    # Layer 0 (16 x 14) takes the input side from the subspace and layer 1
    # (10 x 16) the output side. Equal spans show as equal projections.
    for index, side in ((0, "V"), (1, "U")):
        expected = getattr(invariant_subspace(weights[index], grads[index], K), side)
        basis = getattr(model.layers[index], side)
        np.testing.assert_allclose(basis @ basis.T, expected @ expected.T, atol=1e-10)


def test_subspace_factors_odd_rank():
    weights, X, Y, _ = small_problem(NETWORKS["depth2"])
    _, grads = loss_and_gradients(weights, X, Y, "tanh", "cross_entropy")
    U, S, V = lr.subspace_factors(weights[0], grads[0], 5)
    assert U.shape == (16, 5)
    assert S.shape == (5, 5)
    assert V.shape == (12, 5)
    wider = invariant_subspace(weights[0], grads[0], 3)
    np.testing.assert_allclose(V, wider.V[:, :5], atol=1e-14)
    with pytest.raises(ValueError, match="odd rank 11"):
        lr.subspace_factors(weights[0], grads[0], 11)
    with pytest.raises(ValueError, match="rank must be between"):
        lr.subspace_factors(weights[0], grads[0], 12)


def test_random_and_plain_inits_have_rank_r():
    weights, X, Y, _ = small_problem(NETWORKS["depth3"])
    for init in ("random", "plain"):
        model = build(weights, X, Y, init, rank=4)
        for layer in model.layers[:2]:
            assert layer.kind == ("factored" if init == "random" else "plain")
            assert np.linalg.matrix_rank(layer.matrix()) == 4
        np.testing.assert_array_equal(model.layers[2].W, weights[2])
    random_layer = build(weights, X, Y, "random", rank=4).layers[0]
    np.testing.assert_allclose(random_layer.U.T @ random_layer.U, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(random_layer.S, 0.1 * np.eye(4))


def test_default_factored_layers_skip_output_and_small_sides():
    assert lr.default_factored_layers([40, 256, 256, 10], 20) == [0, 1]
    assert lr.default_factored_layers([40, 256, 256, 10], 40) == [1]
    assert lr.default_factored_layers([40, 256, 10], 300) == []


def test_builder_rejects_bad_arguments():
    weights, X, Y, _ = small_problem(NETWORKS["depth2"])
    with pytest.raises(ValueError, match="unknown init"):
        build(weights, X, Y, "svd")
    with pytest.raises(ValueError, match="grads_init or the training data"):
        lr.lowrank_mlp(weights, "tanh", init="subspace")
    model = build(weights, X, Y, "subspace")
    with pytest.raises(ValueError, match="alpha must lie in"):
        model.learning_rate_scales(1.5)


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("init", ["full", *lr.INITS])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_gradients_match_finite_differences(network, init, loss):
    weights, X, Y, _ = small_problem(NETWORKS[network], eps=0.5)
    if init == "full":
        model = lr.full_mlp(weights, "tanh")
    else:
        model = build(weights, X, Y, init, loss=loss)
    error = check_gradients(lambda params: model.loss_and_gradients(X, Y, loss), model.params,
                            max_entries=30)
    assert error < 1e-6


def test_full_model_matches_mlp_backprop():
    weights, X, Y, _ = small_problem(NETWORKS["depth3"], eps=0.5)
    model = lr.full_mlp(weights, "silu")
    value, grads = model.loss_and_gradients(X, Y, "cross_entropy")
    expected_value, expected_grads = loss_and_gradients(weights, X, Y, "silu", "cross_entropy")
    assert value == pytest.approx(expected_value, rel=1e-14)
    for G, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(G, expected, rtol=1e-12, atol=1e-15)


def test_factor_gradients_follow_chain_rule_through_w():
    # G_U = G_W V S^T, G_S = U^T G_W V, G_V = G_W^T U S with G_W the dense gradient at W = U S V^T.
    weights, X, Y, _ = small_problem(NETWORKS["depth3"], eps=0.5)
    model = build(weights, X, Y, "subspace")
    rng = np.random.default_rng(3)
    for layer in model.layers[:2]:
        layer.S += 0.3 * rng.standard_normal(layer.S.shape)  # a generic S, not a multiple of I
    _, grads = model.loss_and_gradients(X, Y, "cross_entropy")
    _, dense_grads = loss_and_gradients(model.weights(), X, Y, "tanh", "cross_entropy")
    for index in (0, 1):
        layer = model.layers[index]
        G_U, G_S, G_V = grads[3 * index:3 * index + 3]
        G_W = dense_grads[index]
        np.testing.assert_allclose(G_U, G_W @ layer.V @ layer.S.T, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(G_S, layer.U.T @ G_W @ layer.V, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(G_V, G_W.T @ layer.U @ layer.S, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------
# Costs and learning rates
# ---------------------------------------------------------------------------


WIDE = [40, 96, 96, 10]  # the experiments' shape with narrower hidden layers
M = 96


def test_parameter_counts():
    weights = init_weights(WIDE, "orthogonal", 1.0, np.random.default_rng(0))
    full = lr.full_mlp(weights, "tanh")
    assert full.trainable_parameters() == 40 * M + M * M + M * 10
    r = 20
    model = lr.lowrank_mlp(weights, "tanh", init="random", rank=r, rng=0)
    assert model.trainable_parameters(alpha=1.0) == r * (M + 40 + r) + r * (M + M + r) + M * 10
    assert model.trainable_parameters(alpha=0.0) == 2 * r * r + M * 10
    plain = lr.lowrank_mlp(weights, "tanh", init="plain", rank=r, rng=0)
    assert plain.trainable_parameters() == r * (M + 40) + r * (M + M) + M * 10


def test_flops_per_sample():
    weights = init_weights(WIDE, "orthogonal", 1.0, np.random.default_rng(0))
    full = lr.full_mlp(weights, "tanh").flops_per_sample()
    assert full["forward"] == 2 * (40 * M + M * M + M * 10)
    # Every layer computes its weight gradient; all but the first also pass delta back.
    assert full["backward"] == 2 * full["forward"] - 2 * 40 * M
    r = 20
    model = lr.lowrank_mlp(weights, "tanh", init="random", rank=r, rng=0).flops_per_sample()
    assert model["forward"] == 2 * (r * (40 + r + M) + r * (M + r + M) + M * 10)
    # Backward: 2 (m r + m r + r r + r r + n r) per factored layer, plus n r more when delta passes back.
    assert model["backward"] == (2 * (2 * M * r + 2 * r * r + 40 * r)
                                 + 2 * (2 * M * r + 2 * r * r + M * r) + 2 * M * r
                                 + 2 * (2 * 10 * M))


def test_alpha_zero_freezes_u_and_v():
    weights, X, Y, _ = small_problem(NETWORKS["depth3"], eps=0.5)
    model = build(weights, X, Y, "subspace")
    before = [P.copy() for P in model.params]
    scales = model.learning_rate_scales(alpha=0.0)
    assert scales == [0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    optimizer = Adam(1e-2, layer_scales=scales)
    for _ in range(3):
        optimizer.step(model.params, model.loss_and_gradients(X, Y, "cross_entropy")[1])
    for P, P0, scale in zip(model.params, before, scales, strict=True):
        if scale == 0.0:
            np.testing.assert_array_equal(P, P0)
        else:
            assert not np.array_equal(P, P0)


def test_astype_copies_parameters():
    weights, X, Y, _ = small_problem(NETWORKS["depth2"])
    model = build(weights, X, Y, "subspace")
    single = model.astype(np.float32)
    assert all(P.dtype == np.float32 for P in single.params)
    assert not any(np.shares_memory(P, Q) for P, Q in zip(model.params, single.params, strict=True))
    np.testing.assert_allclose(single.predict(X.astype(np.float32)), model.predict(X), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_mnist1d():
    dataset = load_mnist1d(n_samples=1000)
    X_train, X_test = standardize(dataset.X_train, dataset.X_test)
    return dataset._replace(X_train=X_train, X_test=X_test)


def test_lowrank_model_learns_above_chance(small_mnist1d):
    weights = init_weights([40, 64, 64, 10], "orthogonal", 1.0, np.random.default_rng(0))
    model = lr.lowrank_mlp(weights, "tanh", X=small_mnist1d.X_train, Y=small_mnist1d.Y_train)
    assert [layer.kind for layer in model.layers] == ["factored", "factored", "dense"]
    record = lr.train_classifier(model, small_mnist1d, Adam(3e-3, layer_scales=model.learning_rate_scales()),
                                 epochs=15, batch_size=64)
    assert record.test_accuracy.shape == (16,)
    assert record.train_loss[-1] < record.train_loss[0]
    # Chance is 10%; the run measured about 40% here.
    assert record.test_accuracy[-1] > 0.25
    assert record.final_train_accuracy > 0.4


def test_training_is_reproducible_for_a_seed(small_mnist1d):
    def run():
        weights = init_weights([40, 32, 10], "orthogonal", 1.0, np.random.default_rng(1))
        model = lr.lowrank_mlp(weights, "tanh", rank=8, X=small_mnist1d.X_train, Y=small_mnist1d.Y_train)
        return lr.train_classifier(model, small_mnist1d, Adam(1e-3), epochs=2, batch_size=50, seed=4)

    first, second = run(), run()
    np.testing.assert_array_equal(first.train_loss, second.train_loss)
    np.testing.assert_array_equal(first.test_accuracy, second.test_accuracy)


def test_dataset_loss_matches_one_batch():
    weights, X, Y, labels = small_problem(NETWORKS["depth2"])
    model = lr.full_mlp(weights, "tanh")
    for loss in LOSSES:
        expected, _ = model.loss_and_gradients(X, Y, loss)
        assert lr.dataset_loss(model, X, Y, loss, batch_size=5) == pytest.approx(expected, rel=1e-12)


def test_train_classifier_rejects_oversized_batch():
    weights, X, Y, labels = small_problem(NETWORKS["depth2"])
    dataset = Dataset(X, Y, labels, X, Y, labels)
    model = lr.full_mlp(weights, "tanh")
    with pytest.raises(ValueError, match="batch_size must be between 1 and N = 24"):
        lr.train_classifier(model, dataset, Adam(1e-3), epochs=1, batch_size=25)


# ---------------------------------------------------------------------------
# The experiment scripts, at --quick size
# ---------------------------------------------------------------------------


def test_classification_script_quick(tmp_path):
    from experiments import lowrank_classification

    # Width 32 keeps the run short; the defaults are exercised by running the script.
    metrics = lowrank_classification.main(["--quick", "--hidden", "32", "--out", str(tmp_path)])
    assert set(metrics["models"]) == {"full", "subspace"}
    assert len(metrics["models"]["full"]["final_test_accuracy"]) == 2
    assert (tmp_path / "test_accuracy.png").stat().st_size > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    r = 20
    assert saved["models"]["subspace"]["trainable_parameters"] == r * (32 + 40 + r) + r * (32 + 32 + r) + 320
    assert saved["models"]["full"]["trainable_parameters"] == 40 * 32 + 32 * 32 + 320


def test_ablation_script_quick(tmp_path):
    from experiments import lowrank_ablations

    metrics = lowrank_ablations.main(["--quick", "--hidden", "32", "--out", str(tmp_path)])
    kinds = {entry["kind"] for entry in metrics["results"].values()}
    assert kinds == {"linear", "full", "subspace", "random", "plain"}
    ranks = {entry["rank"] for entry in metrics["results"].values() if entry["kind"] == "subspace"}
    assert ranks == {5, 10, 20, 30}
    with np.load(tmp_path / "curves.npz") as curves:
        assert set(curves.files) == set(metrics["results"])
    assert (tmp_path / "ablations.png").stat().st_size > 0


def test_classification_script_reads_fashion_mnist_files(tmp_path, monkeypatch):
    from experiments import lowrank_classification

    sizes = {"train": 8, "t10k": 4}
    monkeypatch.setattr(data, "FASHION_MNIST_SIZES", sizes)
    folder = tmp_path / "fashion"
    folder.mkdir()
    rng = np.random.default_rng(0)
    side = data.FASHION_MNIST_SIDE
    for split, count in sizes.items():
        images = rng.integers(0, 256, (count, side, side)).astype(np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        for kind, magic, array in (("images-idx3", data.IDX_IMAGES_MAGIC, images),
                                   ("labels-idx1", data.IDX_LABELS_MAGIC, labels)):
            header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
            with gzip.open(folder / f"{split}-{kind}-ubyte.gz", "wb") as handle:
                handle.write(header + array.tobytes())
    flags = ["--quick", "--data", "fashion_mnist", "--data-dir", str(folder), "--batch-size", "4",
             "--hidden", "32", "--out", str(tmp_path / "out")]
    metrics = lowrank_classification.main(flags)
    assert metrics["data_shape"] == {"d": 784, "K": 10, "n_train": 8, "n_test": 4}
    assert metrics["models"]["subspace"]["factored_layers"] == [0, 1]


def test_classification_script_names_missing_files(tmp_path):
    from experiments import lowrank_classification

    with pytest.raises(FileNotFoundError, match="--download"):
        lowrank_classification.main(["--quick", "--data", "cifar10", "--data-dir", str(tmp_path),
                                     "--out", str(tmp_path / "out")])
