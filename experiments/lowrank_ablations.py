"""Ablations of the low-rank MLP: initialization, rank r, initialization scale eps, and alpha.

The low-rank MLP factors each hidden layer as W_l = U_l S_l V_l^T (see
lowrank.py). Every row below trains with the same data, Adam settings,
batches and epochs as lowrank_classification.py, and changes one thing
from the default (subspace initialization, r = 2K, the default eps and alpha):

- init: subspace against random orthonormal U, V (S = eps I) and a plain
  A B^T factorization with Gaussian factors, all at r = 2K;
- rank: r = K/2, K, 2K and 3K with the subspace initialization;
- eps: the scale of W_l(0) = eps Q_l, for the subspace model and the full
  MLP alike, because eps changes both networks;
- alpha: the learning-rate factor of U and V, with alpha = 0 freezing them so
  that only S_l and the dense output layer train.

A linear softmax classifier (one d x K layer, trained the same way) gives
the accuracy that needs no hidden features, for reference.

Outputs go under results/lowrank_ablations/ (or --out):

- metrics.json: per row, the final test accuracy of each seed, its mean and
  sample standard deviation, trainable parameters and seconds per epoch;
- curves.npz: test accuracy per epoch and seed for every row;
- ablations.png: one panel per group, with accuracy curves by
  initialization and final accuracy against r, eps and alpha, the full MLP
  drawn for reference.

Measured with the defaults (``python experiments/lowrank_ablations.py``,
MNIST-1D, 3 seeds, 100 epochs, eps = 1, alpha = 1; 80-112 s on a 2-core
machine shared with other jobs), final test accuracy in %:

- reference: linear softmax classifier 24.23 ± 1.05.
- init at r = 20: subspace 64.37 ± 1.46, random U, V 61.90 ± 0.44,
  plain A B^T 62.27 ± 2.51; full MLP 65.27 ± 0.65.
- rank: r = 5: 39.27 ± 6.03, r = 10: 53.67 ± 0.55, r = 20: 64.37 ± 1.46,
  r = 30: 66.03 ± 1.71.
- eps = 0.01 / 0.1 / 1: low-rank 30.43 / 35.30 / 64.37, full MLP
  51.33 / 60.03 / 65.27. At small eps the low-rank model ends 6 to 11
  points above the linear classifier and far below the full MLP, with a
  training accuracy of 32-38%. A likely reason, not verified here: the
  full MLP leaves the near-linear regime through Adam updates of high rank,
  which factored layers of rank 20 cannot make.
- alpha = 0 / 0.1 / 1: 42.00 / 49.60 / 64.37. With U and V frozen, the first
  layer reads only a fixed 20-dimensional subspace of the 40 inputs.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# One BLAS thread unless the caller sets one (reason: lowrank_classification.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from experiments.common import (  # noqa: E402
    format_table,
    make_parser,
    plt,
    prepare_output,
    read_json,
    run_cli,
    save_figure,
    save_npz,
    setup_logging,
    write_json,
)
from experiments.lowrank_classification import (  # noqa: E402
    LABELS,
    add_training_flags,
    cast,
    prepare_data,
    settings_from,
    train_one,
)

SEEDS = 3
EPS_SWEEP = (0.01, 0.1, 1.0)
ALPHA_SWEEP = (0.0, 0.1, 1.0)
RANK_FACTORS = (0.5, 1.0, 2.0, 3.0)  # r = factor * K
INITS = ("subspace", "random", "plain")


def ablation_rows(settings, K):
    """Return the list of rows, each a dict of group, kind, rank, eps and alpha.

    Rows that coincide (the default subspace model appears in every group)
    share one key, so each distinct configuration trains once per seed.
    """
    base_rank = settings["rank"] or 2 * K
    base = {"kind": "subspace", "rank": base_rank, "eps": settings["eps"], "alpha": settings["alpha"]}
    rows = [{"group": "reference", "kind": "linear", "rank": None, "eps": settings["eps"], "alpha": 1.0}]
    rows.append({"group": "init", "kind": "full", "rank": None, "eps": settings["eps"], "alpha": 1.0})
    rows += [{"group": "init", **base, "kind": kind} for kind in INITS]
    rows += [{"group": "rank", **base, "rank": max(1, round(factor * K))} for factor in RANK_FACTORS]
    for eps in sorted(set(EPS_SWEEP) | {settings["eps"]}):
        rows.append({"group": "eps", "kind": "full", "rank": None, "eps": eps, "alpha": 1.0})
        rows.append({"group": "eps", **base, "eps": eps})
    for alpha in sorted(set(ALPHA_SWEEP) | {settings["alpha"]}):
        rows.append({"group": "alpha", **base, "alpha": alpha})
    for row in rows:
        row["key"] = f"{row['kind']}_r{row['rank']}_eps{row['eps']:g}_alpha{row['alpha']:g}"
    return rows


def compute(args, out):
    settings = settings_from(args)
    dataset = prepare_data(args)
    train_data = cast(dataset, settings["dtype"])
    K = dataset.n_classes
    rows = ablation_rows(settings, K)
    configs = {row["key"]: row for row in rows}
    print(f"{settings['data']}: {len(configs)} configurations x {len(settings['seeds'])} seeds, "
          f"{settings['epochs']} epochs each", flush=True)

    results = {}
    for number, (key, row) in enumerate(configs.items(), start=1):
        runs = []
        for seed in settings["seeds"]:
            runs.append(train_one(row["kind"], dataset, train_data, seed, settings, rank=row["rank"],
                                  eps=row["eps"], alpha=row["alpha"]))
        final = np.array([run["record"].test_accuracy[-1] for run in runs])
        results[key] = {
            "kind": row["kind"], "rank": row["rank"], "eps": row["eps"], "alpha": row["alpha"],
            "final_test_accuracy": final, "test_accuracy_mean": float(final.mean()),
            "test_accuracy_std": float(final.std(ddof=1)) if final.size > 1 else 0.0,
            "final_train_accuracy_mean": float(np.mean([r["record"].final_train_accuracy for r in runs])),
            "trainable_parameters": runs[0]["trainable_parameters"],
            "seconds_per_epoch": float(np.mean([r["seconds_per_epoch"] for r in runs])),
            "curves": np.array([r["record"].test_accuracy for r in runs]),
        }
        print(f"[{number}/{len(configs)}] {key}: test accuracy {100 * final.mean():.2f} ± "
              f"{100 * results[key]['test_accuracy_std']:.2f}%", flush=True)

    save_npz(out / "curves.npz", **{key: result.pop("curves") for key, result in results.items()})
    metrics = {
        "claim": "ablations of the low-rank MLP: initialization, rank, eps and alpha at equal budget",
        "settings": settings,
        "data_shape": {"d": dataset.X_train.shape[0], "K": K, "n_train": dataset.X_train.shape[1],
                       "n_test": dataset.X_test.shape[1]},
        "rows": [{"group": row["group"], "key": row["key"]} for row in rows],
        "results": results,
        "notes": "accuracies are final-epoch test accuracies; std is the sample standard deviation "
                 "(ddof=1) over seeds",
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def _errorbar(ax, metrics, group, kind, field, label, color):
    keys = [row["key"] for row in metrics["rows"] if row["group"] == group]
    entries = sorted((metrics["results"][key] for key in keys if metrics["results"][key]["kind"] == kind),
                     key=lambda entry: entry[field])
    x = [entry[field] for entry in entries]
    mean = [100 * entry["test_accuracy_mean"] for entry in entries]
    std = [100 * entry["test_accuracy_std"] for entry in entries]
    ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, color=color, label=label)


def plot(out):
    """Draw ablations.png from metrics.json and curves.npz."""
    metrics = read_json(out / "metrics.json")
    settings, results = metrics["settings"], metrics["results"]
    K = metrics["data_shape"]["K"]
    full_key = next(row["key"] for row in metrics["rows"] if row["group"] == "init"
                    and results[row["key"]]["kind"] == "full")
    full_mean = 100 * results[full_key]["test_accuracy_mean"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))

    ax = axes[0, 0]
    colors = {"full": "tab:blue", "subspace": "tab:orange", "random": "tab:green", "plain": "tab:red"}
    with np.load(out / "curves.npz") as curves:
        for row in metrics["rows"]:
            if row["group"] != "init":
                continue
            entry = results[row["key"]]
            accuracy = 100 * curves[row["key"]]
            mean = accuracy.mean(axis=0)
            std = accuracy.std(axis=0, ddof=1 if len(accuracy) > 1 else 0)
            epochs = np.arange(accuracy.shape[1])
            label = f"{LABELS[entry['kind']]} ({entry['trainable_parameters']:,} params)"
            ax.plot(epochs, mean, color=colors[entry["kind"]], label=label)
            ax.fill_between(epochs, mean - std, mean + std, color=colors[entry["kind"]], alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"initialization at rank 2K = {2 * K} (band: ± 1 std)")
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[0, 1]
    _errorbar(ax, metrics, "rank", "subspace", "rank", "low-rank, subspace init", "tab:orange")
    ax.axhline(full_mean, color="tab:blue", linestyle="--", label="full MLP")
    ax.axvline(2 * K, color="gray", linestyle=":", label="r = 2K")
    ax.set_xlabel("rank r of each factored layer")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("rank sweep")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    _errorbar(ax, metrics, "eps", "full", "eps", "full MLP", "tab:blue")
    _errorbar(ax, metrics, "eps", "subspace", "eps", "low-rank, subspace init", "tab:orange")
    linear_key = next(row["key"] for row in metrics["rows"] if row["group"] == "reference")
    ax.axhline(100 * results[linear_key]["test_accuracy_mean"], color="gray", linestyle=":",
               label="linear softmax classifier")
    ax.set_xscale("log")
    ax.set_xlabel("initialization scale eps (W(0) = eps Q)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("eps sweep, both models")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    _errorbar(ax, metrics, "alpha", "subspace", "alpha", "low-rank, subspace init", "tab:orange")
    ax.axhline(full_mean, color="tab:blue", linestyle="--", label="full MLP")
    ax.set_xlabel("alpha (learning-rate factor of U and V; 0 freezes them)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("alpha sweep")
    ax.legend(fontsize=8)

    for ax in axes.flat:
        ax.grid(alpha=0.3)
    fig.suptitle(f"{settings['data']}: {settings['depth']}-layer {settings['activation']} MLP, width "
                 f"{settings['hidden']}, Adam eta={settings['eta']:g}, {settings['epochs']} epochs, "
                 f"mean ± std over {len(settings['seeds'])} seeds; defaults eps={settings['eps']:g}, "
                 f"alpha={settings['alpha']:g}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out / "ablations.png")


def table_rows(metrics):
    rows = []
    for row in metrics["rows"]:
        entry = metrics["results"][row["key"]]
        rows.append({"group": row["group"], "model": LABELS[entry["kind"]],
                     "rank": "-" if entry["kind"] == "linear" else
                             "full" if entry["rank"] is None else entry["rank"],
                     "eps": f"{entry['eps']:g}", "alpha": "-" if entry["kind"] in ("full", "linear", "plain")
                     else f"{entry['alpha']:g}",
                     "test acc %": f"{100 * entry['test_accuracy_mean']:.2f} ± "
                                   f"{100 * entry['test_accuracy_std']:.2f}",
                     "train acc %": f"{100 * entry['final_train_accuracy_mean']:.1f}",
                     "trainable params": entry["trainable_parameters"],
                     "s/epoch": entry["seconds_per_epoch"]})
    return rows


def main(argv=None):
    parser = add_training_flags(make_parser(__doc__.splitlines()[0], "lowrank_ablations"))
    parser.set_defaults(seeds=SEEDS)
    args = parser.parse_args(argv)
    setup_logging(verbose=False)
    out = prepare_output(args.out)
    metrics = compute(args, out)
    plot(out)
    print(format_table(table_rows(metrics), ["group", "model", "rank", "eps", "alpha", "test acc %",
                                             "train acc %", "trainable params", "s/epoch"]))
    print(f"wrote {out / 'metrics.json'} and {out / 'ablations.png'}")
    return metrics


if __name__ == "__main__":
    run_cli(main)
