"""The claims of Xu et al. (arXiv:2602.06208), the script that checks each, and their verdicts.

Used by ``reproduce.py`` to write REPORT.md. Each ``Claim`` names its script
in experiments/, the figures that script writes, and a ``summarize``
function that turns the script's ``metrics.json`` into a Markdown
measurement and a verdict. The thresholds in the summaries are the ones the
test suite checks at smaller sizes.
"""

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Claim:
    """One claim of Xu et al. (arXiv:2602.06208) and the script that measures it."""

    script: str
    title: str
    claim: str
    prediction: str
    figures: tuple
    summarize: Callable[[dict], tuple]
    extra_args: tuple = field(default_factory=tuple)
    output: str = ""  # folder under results/; defaults to the script name
    # Seconds with default settings and with --quick, measured by reproduce.py on a
    # 2-core machine; used only to estimate the time left in the progress line.
    expected_seconds: tuple = (60.0, 6.0)

    @property
    def folder(self):
        """Return the claim's output folder, relative to the results folder."""
        return self.output or self.script


def markdown_table(rows, columns):
    """Return a Markdown table of ``rows`` (dicts) with the given columns."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines)


def verdict(checks):
    """Return "holds" when every (description, passed) check passed, else name the failures."""
    failed = [description for description, passed in checks if not passed]
    return "holds" if not failed else "does not hold: " + "; ".join(failed)


# ---------------------------------------------------------------------------
# Deep networks (Figure 1) and beyond the theory (Section 4)
# ---------------------------------------------------------------------------


def summarize_deep(metrics):
    K = metrics["config"]["K"]
    rows = []
    for run in metrics["runs"]:
        row = {"activation": run["activation"], "final loss": run["final_loss"]}
        for layer in run["layers"]:
            row[f"W{layer['layer']} top-2K share / moved"] = (
                f"{layer['top_2K_energy']:.4f} / {layer['moved']}")
        rows.append(row)
    first = {run["activation"]: run["layers"][0]["top_2K_energy"] for run in metrics["runs"]}
    smooth = [name for name in first if name != "relu"]
    checks = [(f"smooth activations: W1 keeps at least 95% of its update energy in the top 2K = {2 * K} "
               "directions", all(first[name] >= 0.95 for name in smooth))]
    if "relu" in first and smooth:
        checks.append(("ReLU: W1's top-2K share at least 0.05 below every smooth activation's",
                       first["relu"] <= min(first[name] for name in smooth) - 0.05))
    note = ("A singular value counts as moved when the update's singular value exceeds "
            f"{metrics['config']['moved_tol']:g} times the update's largest one.")
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, verdict(checks)


def summarize_beyond(metrics):
    config = metrics["config"]
    threshold = config["low_rank_threshold"]
    rows = [{"variant": row["variant"], "activation": row["activation"], "final loss": row["final_loss"],
             "W1 top-2K share": f"{row['top_2K_energy']:.4f}", "W1 effective rank": row["effective_rank"],
             "low-rank?": row["verdict"]}
            for row in metrics["rows"]]
    smooth = [row for row in metrics["rows"] if row["activation"] != "relu"]
    keeps = list(dict.fromkeys(row["variant"] for row in smooth if row["top_2K_energy"] >= threshold))
    breaks = list(dict.fromkeys(row["variant"] for row in smooth if row["top_2K_energy"] < threshold))
    note = (f"A row keeps the low-rank behaviour when W1's update has at least {threshold:g} of its "
            f"energy in its top 2K directions. A random update of the same shape scores "
            f"{config['random_top_2K_energy']:.3f} (effective rank {config['random_effective_rank']:.1f}). "
            "A row that barely trained has a small update that can score high, so read the share "
            "with the final loss beside it.")
    relu = {row["variant"]: row["top_2K_energy"] for row in metrics["rows"] if row["activation"] == "relu"}
    like_relu = list(dict.fromkeys(row["variant"] for row in smooth if row["variant"] in relu
                                   and relu[row["variant"]] >= row["top_2K_energy"] - 0.05))
    if not breaks:
        result = "holds for every variant with a smooth activation"
    else:
        result = ("holds for: " + ", ".join(keeps) if keeps else "holds for no variant") + \
            "; does not hold for: " + ", ".join(breaks)
    if like_relu:
        result += ("; ReLU scores within 0.05 of the smooth activation, so the share does not "
                   "separate them, for: " + ", ".join(like_relu))
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, result


# ---------------------------------------------------------------------------
# Two-layer theory
# ---------------------------------------------------------------------------


def summarize_two_layer(metrics):
    acts = metrics["activations"]
    K = metrics["config"]["classes"]
    rows = [{"activation": name,
             "final loss": a["final_loss"],
             "complement drift": a["complement_drift"],
             "update energy in subspace": a["update_energy_in_subspace"],
             "moved singular values": a["moved_singular_values"],
             "min cosine S_in, gradient vs closed form": a["min_cosine_gradient_vs_closed_form"]}
            for name, a in acts.items()]
    checks = []
    if "linear" in acts:
        drift = acts["linear"]["complement_drift"]
        moved = acts["linear"]["moved_singular_values"]
        checks.append((f"linear: complement drift {drift:.2g}, expected below 1e-9", drift < 1e-9))
        checks.append((f"linear: {moved} singular values moved, expected exactly 2K = {2 * K}",
                       moved == 2 * K))
    if "tanh" in acts:
        drift = acts["tanh"]["complement_drift"]
        energy = acts["tanh"]["update_energy_in_subspace"]
        checks.append((f"tanh: complement drift {drift:.3g}, expected below 0.2", drift < 0.2))
        checks.append((f"tanh: update energy in subspace {energy:.5f}, expected above 0.999", energy > 0.999))
    if "tanh" in acts and "relu" in acts:
        checks.append(("ReLU drift at least 100 times tanh's",
                       acts["relu"]["complement_drift"] >= 100 * acts["tanh"]["complement_drift"]))
    smooth = [name for name in acts if name != "relu"]
    checks.append(("smooth activations: closed-form S_in within cosine 1 - 1e-3 of the gradient-based one",
                   all(acts[name]["min_cosine_gradient_vs_closed_form"] > 1 - 1e-3 for name in smooth)))
    note = ("Complement drift is ||U_perp^T W1(T) V_perp - eps I||_F / eps. A singular value of W1 "
            f"counts as moved when it differs from eps by more than {metrics['config']['moved_rtol']:g} eps. "
            "The cosine is that of the largest principal angle between the input-side subspaces.")
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, verdict(checks)


def summarize_gradient_rank(metrics):
    acts = metrics["activations"]
    rows = [{"activation": name,
             "sigma_{K+1}/sigma_1 at init": a["gradient_tail_ratio_init"],
             "max over training": a["max_gradient_tail_ratio"],
             "final linearization error": a["final_linearization_error"]}
            for name, a in acts.items()]
    smooth = [name for name in acts if name != "relu"]
    checks = [("smooth activations: sigma_{K+1}/sigma_1 stays below 1e-2",
               all(acts[name]["max_gradient_tail_ratio"] < 1e-2 for name in smooth))]
    if "relu" in acts:
        checks.append(("ReLU: sigma_{K+1}/sigma_1 above 0.1", acts["relu"]["max_gradient_tail_ratio"] > 0.1))
    note = ("Maxima are over the steps whose loss is above "
            f"{metrics['config']['loss_floor']:g}; below it the gradient is rounding noise.")
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, verdict(checks)


def summarize_smoothness(metrics):
    acts = metrics["activations"]
    eps_values = metrics["config"]["eps"]
    rows = [{"activation": name,
             "slope of log sigma_{K+1}/sigma_1 vs log eps": a["tail_ratio_slope"],
             "slope of log drift vs log eps": a["drift_slope"],
             "drift at smallest eps": a["complement_drift"][0],
             "drift at largest eps": a["complement_drift"][-1]}
            for name, a in acts.items()]
    smooth = [name for name in acts if name != "relu"]
    checks = [("smooth activations: the gradient tail ratio shrinks at least linearly with eps",
               all(acts[name]["tail_ratio_slope"] >= 0.9 for name in smooth))]
    if "relu" in acts:
        checks.append(("ReLU: the tail ratio does not shrink with eps",
                       abs(acts["relu"]["tail_ratio_slope"]) < 0.1))
        relu_drift = acts["relu"]["complement_drift"]
        checks.append(("ReLU drift at least 100 times every smooth activation's at every eps",
                       all(r >= 100 * s for name in smooth
                           for r, s in zip(relu_drift, acts[name]["complement_drift"]))))
    note = (f"eps swept over {min(eps_values):g} to {max(eps_values):g}. The drift is relative to eps, "
            "so a slope near 0 means the complement moves in proportion to eps.")
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, verdict(checks)


# ---------------------------------------------------------------------------
# Low-rank MLP (Section 5 and Appendix F)
# ---------------------------------------------------------------------------


def accuracy_cell(result):
    """Return "mean ± std %" for a result with test_accuracy_mean and test_accuracy_std."""
    return f"{100 * result['test_accuracy_mean']:.2f} ± {100 * result['test_accuracy_std']:.2f}"


def summarize_lowrank_classification(metrics):
    settings = metrics["settings"]
    rows = [{"model": name, "test accuracy %": accuracy_cell(model),
             "final train accuracy %": f"{100 * model['final_train_accuracy_mean']:.1f}",
             "trainable parameters": model["trainable_parameters"],
             "seconds per epoch": model["seconds_per_epoch"]}
            for name, model in metrics["models"].items()]
    gap = metrics["accuracy_gap_pp"]
    ratio = metrics["parameter_ratio"]
    full_accuracy = metrics["models"]["full"]["test_accuracy_mean"]
    checks = [(f"the low-rank MLP is {-gap:.2f} points behind the full MLP, more than the 1 point allowed",
               gap >= -1.0),
              (f"the low-rank MLP trains {ratio:.3f} of the full MLP's parameters, more than a quarter",
               ratio <= 0.25)]
    if settings["data"] == "mnist1d":
        checks.append((f"the full MLP reaches {100 * full_accuracy:.1f}% test accuracy, below 60%",
                       full_accuracy >= 0.60))
    note = (f"{settings['data']}, {len(settings['seeds'])} seeds (mean ± sample standard deviation of the "
            f"final-epoch test accuracy), {settings['epochs']} epochs of "
            f"{settings['optimizer']} (eta = {settings['eta']:g}, batch {settings['batch_size']}), "
            f"{settings['activation']}, hidden width {settings['hidden']}, init scale eps = "
            f"{settings['eps']:g}. Accuracy gap (low-rank minus full): {gap:+.2f} points. "
            f"Parameter ratio: {ratio:.3f}. FLOP ratio: {metrics['flops_ratio']:.3f}.")
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, verdict(checks)


def summarize_lowrank_ablations(metrics):
    results = metrics["results"]
    rows = []
    for row in metrics["rows"]:
        result = results[row["key"]]
        rank = "" if result["rank"] is None else result["rank"]
        rows.append({"group": row["group"], "model": result["kind"], "rank": rank, "eps": result["eps"],
                     "alpha": result["alpha"], "test accuracy %": accuracy_cell(result),
                     "trainable parameters": result["trainable_parameters"]})
    by_group = {}
    for row in metrics["rows"]:
        by_group.setdefault(row["group"], []).append(results[row["key"]])
    inits = {result["kind"]: result["test_accuracy_mean"] for result in by_group.get("init", [])}
    checks = []
    if {"subspace", "random", "plain"} <= set(inits):
        checks.append(("subspace init at least as accurate as random-subspace and plain factorization "
                       "at equal rank", inits["subspace"] >= max(inits["random"], inits["plain"])))
    ranks = sorted((r["rank"], r["test_accuracy_mean"]) for r in by_group.get("rank", []))
    if ranks:
        checks.append(("accuracy does not fall as the rank grows",
                       all(b >= a - 0.01 for (_, a), (_, b) in zip(ranks, ranks[1:]))))
    note = ("Every row uses the same optimizer, epochs and batch size. Rows repeat across groups where "
            "they coincide. Accuracy is the final-epoch test accuracy, mean ± sample standard deviation "
            "over seeds.")
    return markdown_table(rows, list(rows[0])) + "\n\n" + note, verdict(checks)


BEYOND_CLAIM = ("The low-rank training dynamics persist when the two-layer assumptions are relaxed one "
                "at a time: deeper networks, every layer trained, mini-batch SGD, Adam, unwhitened "
                "inputs, cross-entropy loss, and default-scale initialization.")
BEYOND_PREDICTION = ("With a smooth activation the first layer's update stays concentrated in about 2K "
                     "directions (top-2K energy share near 1) in every variant; with ReLU it does not.")

CLAIMS = [
    Claim(
        script="deep_singular_values",
        expected_seconds=(4.0, 4.0),
        title="Low-rank first-layer updates in a deep smooth MLP (Figure 1)",
        claim=("In a 4-layer MLP with a smooth activation, all layers trained by gradient descent from "
               "a small orthogonal initialization, only a few singular values of each weight matrix "
               "move during training."),
        prediction=("For ELU, GELU and SiLU the first layer's update has nearly all its energy in its top "
                    "2K singular directions; for ReLU it spreads over many directions."),
        figures=("first_layer.png", "all_layers.png"),
        summarize=summarize_deep,
    ),
    Claim(
        script="two_layer_subspace",
        expected_seconds=(7.0, 4.0),
        title="Invariant subspace of the two-layer network (Theorem 3.5)",
        claim=("Training W1 of W2 phi(W1 X) by gradient descent from a small semi-orthogonal "
               "W1(0) = eps Q, with W2 fixed and X whitened, changes W1 only inside a "
               "2K-dimensional subspace fixed at initialization, which a closed form in X, Y, W2 "
               "and W1(0) gives."),
        prediction=("Linear phi: the complement block U_perp^T W1 V_perp stays at eps I to "
                    "rounding and exactly 2K singular values move. Smooth phi: the complement "
                    "moves by at most about eps (relative drift of order 1 or less) while the learned "
                    "singular values grow to order 1, odd activations such as tanh staying closest. "
                    "ReLU: no invariant subspace, so its drift is orders of magnitude larger."),
        figures=("two_layer_subspace.png",),
        summarize=summarize_two_layer,
    ),
    Claim(
        script="gradient_rank",
        expected_seconds=(6.0, 3.0),
        title="Small (K+1)-st gradient singular value (Assumption 3.4)",
        claim=("For a smooth activation the gradient of W1 stays approximately rank K for the whole "
               "run, because the network stays close to its linearization."),
        prediction=("sigma_{K+1}(G1)/sigma_1(G1) near 1e-16 for a linear phi, small for smooth phi, "
                    "and of order 1 for ReLU."),
        figures=("gradient_rank.png",),
        summarize=summarize_gradient_rank,
    ),
    Claim(
        script="smoothness",
        expected_seconds=(3.0, 2.0),
        title="Smoothness against ReLU (Appendix B)",
        claim=("The low-rank structure comes from smoothness: as eps shrinks, phi' of a smooth "
               "activation approaches a constant on the pre-activations and the gradient becomes "
               "rank K, while ReLU's phi' stays a 0/1 mask at every scale."),
        prediction=("The gradient's sigma_{K+1}/sigma_1 at initialization falls like eps for "
                    "activations with phi''(0) != 0 and like eps^2 for odd ones such as tanh; "
                    "for ReLU it does not depend on eps."),
        figures=("smoothness.png",),
        summarize=summarize_smoothness,
    ),
    Claim(
        script="beyond_theory",
        output="beyond_theory/synthetic",
        expected_seconds=(8.0, 2.0),
        title="Beyond the theory, on synthetic data (Section 4)",
        claim=BEYOND_CLAIM,
        prediction=BEYOND_PREDICTION,
        figures=("variants.png", "share_over_training.png"),
        summarize=summarize_beyond,
        extra_args=("--data", "synthetic"),
    ),
    Claim(
        script="beyond_theory",
        output="beyond_theory/mnist1d",
        expected_seconds=(22.0, 5.0),
        title="Beyond the theory, on MNIST-1D (Section 4)",
        claim=BEYOND_CLAIM,
        prediction=(BEYOND_PREDICTION + " On MNIST-1D (d = 40, K = 10) the top 2K = 20 directions are "
                    "half the input space, so even a random update scores high; the comparison with "
                    "the random reference and with ReLU carries the information."),
        figures=("variants.png", "share_over_training.png"),
        summarize=summarize_beyond,
        extra_args=("--data", "mnist1d"),
    ),
    Claim(
        script="lowrank_classification",
        expected_seconds=(27.0, 3.0),
        title="Low-rank MLP matches the full MLP (Section 5)",
        claim=("An MLP whose hidden layers are rank-2K factors U S V^T, initialized inside each layer's "
               "invariant subspace, reaches the test accuracy of the full MLP with far fewer trained "
               "parameters."),
        prediction=("On MNIST-1D: the low-rank MLP's mean test accuracy within 1 percentage point of the "
                    "full MLP's, with at most a quarter of its trainable parameters; the full MLP at "
                    "least 60% (the dataset's published MLP reference is 68%)."),
        figures=("test_accuracy.png",),
        summarize=summarize_lowrank_classification,
    ),
    Claim(
        script="lowrank_ablations",
        expected_seconds=(84.0, 4.0),
        title="Ablations of the low-rank MLP (Appendix F)",
        claim=("The subspace initialization matters: at equal rank and budget it beats random "
               "orthonormal factors and a plain A B^T factorization, and the rank, the initial scale "
               "eps and the factor learning rate alpha each change the outcome."),
        prediction=("Subspace init at least as accurate as the two baselines at equal rank, and accuracy "
                    "not falling as the rank grows."),
        figures=("ablations.png",),
        summarize=summarize_lowrank_ablations,
    ),
]
