"""Time one training step of the NumPy MLP against PyTorch autograd and against its matmuls alone.

One step is forward, backward and a plain gradient-descent update, with the
squared loss summed over samples and no biases:

- numpy:  ``mlp.loss_and_gradients(..., check_inputs=False)`` then
  ``gd.GradientDescent(eta).step``;
- torch:  the same network with PyTorch autograd on the CPU, ``loss.backward()``
  then ``torch.optim.SGD(lr=eta).step()``, and the loss read back with ``.item()``;
- floor:  only the step's 3L - 1 matrix products (L forward, L weight
  gradients, L - 1 backpropagated deltas) run back to back into preallocated
  outputs, with no elementwise work. ``floor`` uses NumPy's BLAS and
  ``torch GEMMs`` uses PyTorch's.

Depth L is the number of weight matrices: depth 2 is one hidden layer
(n_in -> h -> n_out) and depth 4 is three hidden layers of the same width h
(n_in -> h -> h -> h -> n_out). The sizes name (n_in, h, n_out, batch N).

Every candidate runs in the same process with the same thread count, which
goes into the environment before NumPy or PyTorch loads. In each repeat the
candidates take turns, so load from other processes affects all of them
alike. Without PyTorch the torch columns are skipped.

Example:  python benchmarks/bench_step.py --quick
"""

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # so that mlp and gd import when this runs as a script

from benchmarks.timing import describe_machine, set_thread_count, time_candidates, write_json  # noqa: E402

SIZES = {  # name: (n_in, hidden width h, n_out, batch N)
    "theory": (30, 60, 3, 30),
    "mnist1d": (40, 256, 10, 4000),
    "fashion": (784, 1024, 10, 1024),
    "wide": (3072, 2048, 10, 512),
}
DEFAULTS = {"sizes": list(SIZES), "dtypes": ["float32", "float64"], "depths": [2, 4],
            "repeats": 15, "block_seconds": 0.2}
QUICK = {"sizes": ["theory", "mnist1d", "fashion"], "repeats": 5, "block_seconds": 0.05}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"sizes {','.join(QUICK['sizes'])}, {QUICK['repeats']} repeats, "
                             f"{QUICK['block_seconds']} s blocks")
    parser.add_argument("--sizes", help=f"comma-separated subset of {','.join(SIZES)} (default: all)")
    parser.add_argument("--dtypes", help="comma-separated: float32,float64 (default: both)")
    parser.add_argument("--depths", help="comma-separated numbers of weight matrices, each >= 2 "
                                         "(default: 2,4)")
    parser.add_argument("--repeats", type=int, help=f"timed blocks per candidate (default: "
                                                    f"{DEFAULTS['repeats']})")
    parser.add_argument("--block-seconds", type=float,
                        help="approximate length of one timed block of steps, in seconds "
                             f"(default: {DEFAULTS['block_seconds']})")
    parser.add_argument("--activation", default="tanh", choices=["tanh", "gelu"],
                        help="hidden activation; gelu is the tanh approximation on both sides")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for NumPy's BLAS and for PyTorch")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "benchmarks",
                        help="folder for bench_step.json and bench_step.md")
    args = parser.parse_args(argv)

    preset = {**DEFAULTS, **QUICK} if args.quick else DEFAULTS
    args.sizes = args.sizes.split(",") if args.sizes else preset["sizes"]
    args.dtypes = args.dtypes.split(",") if args.dtypes else preset["dtypes"]
    args.depths = [int(d) for d in args.depths.split(",")] if args.depths else preset["depths"]
    if args.repeats is None:
        args.repeats = preset["repeats"]
    if args.block_seconds is None:
        args.block_seconds = preset["block_seconds"]
    unknown = sorted(set(args.sizes) - set(SIZES)) + sorted(set(args.dtypes) - {"float32", "float64"})
    if unknown:
        parser.error(f"unknown size or dtype {unknown}; sizes: {','.join(SIZES)}, dtypes: float32,float64")
    if min(args.depths) < 2 or args.repeats < 1 or args.threads < 1 or args.block_seconds < 0:
        parser.error("depths must be >= 2, repeats and threads >= 1, and block seconds >= 0")
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_count(ARGS.threads)  # before numpy loads

import numpy as np  # noqa: E402

import gd  # noqa: E402
import mlp  # noqa: E402


def make_problem(size, depth, dtype, seed):
    """Return (weights, X, Y) for the named size and depth, in dtype."""
    n_in, width, n_out, batch = SIZES[size]
    rng = np.random.default_rng(seed)
    widths = [n_in] + [width] * (depth - 1) + [n_out]
    weights = mlp.init_weights(widths, scheme="he", rng=rng, dtype=dtype)
    X = rng.standard_normal((n_in, batch)).astype(dtype)
    Y = rng.standard_normal((n_out, batch)).astype(dtype)
    return weights, X, Y


def learning_rate(batch):
    # Small enough that a few thousand steps stay finite: the loss is summed over the batch.
    return 1e-3 / batch


def numpy_step(weights, X, Y, activation):
    optimizer = gd.GradientDescent(learning_rate(X.shape[1]))
    phi = mlp.get_activation(activation)

    def step():
        value, grads = mlp.loss_and_gradients(weights, X, Y, phi, "squared", check_inputs=False)
        optimizer.step(weights, grads)
        return value

    return step


def gemm_operands(weights, X):
    """List the (A, B, out) triples of one step's products, out = A @ B, with random contents."""
    rng = np.random.default_rng(1)
    dtype = X.dtype
    batch = X.shape[1]
    inputs = [X] + [rng.standard_normal((W.shape[0], batch)).astype(dtype) for W in weights[:-1]]
    deltas = [rng.standard_normal((W.shape[0], batch)).astype(dtype) for W in weights]
    triples = []
    for W, H in zip(weights, inputs):  # forward: Z_l = W_l H_{l-1}
        triples.append((W, H, np.empty((W.shape[0], batch), dtype)))
    for layer in range(len(weights) - 1, -1, -1):  # backward
        W, H, delta = weights[layer], inputs[layer], deltas[layer]
        triples.append((delta, H.T, np.empty(W.shape, dtype)))  # G_l = delta_l H_{l-1}^T
        if layer > 0:
            triples.append((W.T, delta, np.empty((W.shape[1], batch), dtype)))  # W_l^T delta_l
    return triples


def numpy_floor(weights, X):
    triples = gemm_operands(weights, X)

    def step():
        for A, B, out in triples:
            np.matmul(A, B, out=out)

    return step


def torch_step(torch, weights, X, Y, activation):
    import torch.nn.functional as F

    params = [torch.tensor(W, requires_grad=True) for W in weights]  # copies
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    optimizer = torch.optim.SGD(params, lr=learning_rate(X.shape[1]))
    if activation == "tanh":
        phi = torch.tanh
    else:
        def phi(Z):
            return F.gelu(Z, approximate="tanh")

    def loss_fn():
        H = X_t
        for W in params[:-1]:
            H = phi(W @ H)
        residual = params[-1] @ H - Y_t
        return 0.5 * (residual * residual).sum()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, params, loss_fn


def torch_floor(torch, weights, X):
    # torch.from_numpy keeps the strides, so transposed operands stay views as in numpy_floor.
    triples = [tuple(torch.from_numpy(M) for M in triple) for triple in gemm_operands(weights, X)]

    def step():
        for A, B, out in triples:
            torch.matmul(A, B, out=out)

    return step


def max_gradient_difference(torch, weights, X, Y, activation):
    """Return max_l ||G_numpy - G_torch|| / ||G_torch|| at the given weights."""
    _, grads = mlp.loss_and_gradients(weights, X, Y, activation, "squared")
    _, params, loss_fn = torch_step(torch, weights, X, Y, activation)
    loss_fn().backward()
    return max(float(np.linalg.norm(G - P.grad.numpy()) / np.linalg.norm(P.grad.numpy()))
               for G, P in zip(grads, params))


def run_config(torch, size, depth, dtype, args):
    weights, X, Y = make_problem(size, depth, np.dtype(dtype), args.seed)
    candidates = {"numpy": numpy_step([W.copy() for W in weights], X, Y, args.activation),
                  "floor": numpy_floor(weights, X)}
    record = {"size": size, "depth": depth, "dtype": dtype,
              "widths": [X.shape[0]] + [W.shape[0] for W in weights], "batch": X.shape[1]}
    if torch is not None:
        candidates["torch"] = torch_step(torch, [W.copy() for W in weights], X, Y, args.activation)[0]
        candidates["torch_gemms"] = torch_floor(torch, weights, X)
        difference = max_gradient_difference(torch, weights, X, Y, args.activation)
        record["max_relative_gradient_difference"] = difference
        if difference > 100 * np.finfo(X.dtype).eps:
            print(f"WARNING: NumPy and PyTorch gradients differ by {difference:.1e} (relative); "
                  "the two sides may not compute the same network")
    record["seconds"] = time_candidates(candidates, args.repeats, args.block_seconds)
    median = {name: stats["median"] for name, stats in record["seconds"].items()}
    record["numpy_over_floor"] = median["numpy"] / median["floor"]
    if torch is not None:
        record["numpy_over_torch"] = median["numpy"] / median["torch"]
        record["floor_over_torch_gemms"] = median["floor"] / median["torch_gemms"]
    return record


def format_table(records, dtype, with_torch):
    """Return a Markdown table of median milliseconds per step [IQR] and the ratios of medians."""
    columns = ["numpy", "torch", "floor", "torch_gemms"] if with_torch else ["numpy", "floor"]
    ratios = ["numpy/torch", "numpy/floor", "floor/torch GEMMs"] if with_torch else ["numpy/floor"]
    header = ["size", "depth", "widths, batch"] + [f"{c} ms" for c in columns] + ratios
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in (r for r in records if r["dtype"] == dtype):
        cells = [r["size"], str(r["depth"]), f"{'-'.join(map(str, r['widths']))}, {r['batch']}"]
        for c in columns:
            s = r["seconds"][c]
            cells.append(f"{1e3 * s['median']:.3g} [{1e3 * s['q25']:.3g}, {1e3 * s['q75']:.3g}]")
        if with_torch:
            cells.append(f"{r['numpy_over_torch']:.2f}")
        cells.append(f"{r['numpy_over_floor']:.2f}")
        if with_torch:
            cells.append(f"{r['floor_over_torch_gemms']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_torch(args):
    if args.no_torch:
        print("PyTorch skipped (--no-torch): the torch and torch GEMMs columns are left out.")
        return None
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed, so the torch and torch GEMMs columns are skipped; "
              "install it with: pip install -r requirements-bench.txt")
        return None
    torch.set_num_threads(args.threads)
    return torch


def main(args):
    torch = load_torch(args)
    machine = describe_machine(torch, args.threads)
    print(f"{machine['cpu']}, {machine['cores']} cores, load average {machine['load_average_start']}; "
          f"threads: {machine['threads']}")
    records = []
    configs = [(s, d, t) for t in args.dtypes for s in args.sizes for d in args.depths]
    for index, (size, depth, dtype) in enumerate(configs, start=1):
        print(f"[{index}/{len(configs)}] {size} depth {depth} {dtype}", flush=True)
        records.append(run_config(torch, size, depth, dtype, args))
    machine["load_average_end"] = os.getloadavg()

    command = "python benchmarks/bench_step.py " + " ".join(sys.argv[1:])
    tables = [f"### {dtype}, {args.activation}\n\nMedian ms per step [25th, 75th percentile] "
              f"over {args.repeats} blocks.\n\n{format_table(records, dtype, torch is not None)}"
              for dtype in args.dtypes]
    report = "\n\n".join([f"Command: `{command.strip()}`", *tables]) + "\n"
    print("\n" + report)

    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    write_json(args.out / "bench_step.json",
               {"command": command.strip(), "settings": settings, "machine": machine, "results": records})
    (args.out / "bench_step.md").write_text(report)
    print(f"wrote {args.out / 'bench_step.json'} and {args.out / 'bench_step.md'}")


if __name__ == "__main__":
    main(ARGS)
