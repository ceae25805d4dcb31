"""Main job: train the theory's two-layer network once and show the low-rank update.

Trains W1 of f(X) = W2 phi(W1 X) by full-batch gradient descent from a small
semi-orthogonal initialization on orthogonal synthetic data (W2 fixed), and
prints the leading singular values of W1 - W1(0) before and after. With a
smooth activation only about 2K of them move away from 0.

NOTE: this is the core's placeholder for the full reproduction, which will
run every experiment script and write results/REPORT.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from data import orthogonal_data  # noqa: E402
from experiments.common import format_table, make_parser  # noqa: E402
from gd import GradientDescent, train  # noqa: E402
from subspace import semi_orthogonal  # noqa: E402

D, M, K, EPS, ETA, STEPS = 30, 60, 3, 1e-2, 0.5, 3000
ACTIVATIONS = ("linear", "tanh", "silu", "relu")


def main(argv=None):
    parser = make_parser(__doc__.splitlines()[0], "reproduce")
    args = parser.parse_args(argv)
    steps = 300 if args.quick else STEPS
    rows = []
    for activation in ACTIVATIONS:
        rng = np.random.default_rng(args.seed)
        X, Y, _ = orthogonal_data(D, K, rng)
        W1 = semi_orthogonal(M, D, EPS, rng)
        W2 = semi_orthogonal(K, M, 1.0, rng)
        W1_init = W1.copy()
        history = train([W1, W2], X, Y, activation, GradientDescent(ETA, frozen=[1]), steps)
        moved = np.linalg.svd(W1 - W1_init, compute_uv=False)
        rows.append({"activation": activation, "final loss": history.loss[-1],
                     **{f"s{i + 1}": moved[i] for i in range(2 * K + 1)}})
    print(f"Singular values of W1(T) - W1(0) after {steps} GD steps "
          f"(d={D}, m={M}, K={K}, eps={EPS}, eta={ETA}):")
    print(format_table(rows, ["activation", "final loss"] + [f"s{i + 1}" for i in range(2 * K + 1)]))
    return rows


if __name__ == "__main__":
    main()
