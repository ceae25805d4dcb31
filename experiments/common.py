"""Shared plumbing for the experiment scripts: flags, output folder, atomic writes, tables.

Every script follows the same pattern: defaults at the top, argparse flags to
override them, compute, save ``metrics.json`` (and arrays as ``.npz``), then
plot from what was saved. Outputs go to ``results/<script name>/`` unless
``--out`` names another folder.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # scripts write files and never open a window
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "results"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append "(default: ...)" to a flag's help unless the help already states its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def make_parser(description, name):
    """Return an ArgumentParser with the flags every script shares: --out, --seed, --quick."""
    parser = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / name,
                        help="folder for the figure, metrics.json and arrays")
    parser.add_argument("--seed", type=int, default=0, help="random seed for data and initialization")
    parser.add_argument("--quick", action="store_true",
                        help="use smaller sizes and fewer steps, for a check that takes seconds")
    return parser


def run_cli(main):
    """Call ``main()`` and turn an input or divergence error into a one-line message and exit status 2.

    Scripts raise ValueError for invalid settings, FileNotFoundError for
    missing data files and gd.DivergenceError (a FloatingPointError) for a
    learning rate that diverges. A traceback would bury the message, so only
    the message is printed. Other exceptions still show their traceback.
    """
    try:
        main()
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def setup_logging(verbose=True):
    """Send INFO logs of the library modules to stderr with timestamps."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def prepare_output(out):
    """Create the output folder and return it as a Path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file in the same folder, then rename it to ``path``.

    The rename is atomic on POSIX, so an interrupted run never leaves a
    half-written file under the final name.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates the file readable by its owner only; give it the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _to_builtin(value):
    """Convert NumPy scalars and arrays so json can write them."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path, data):
    """Write ``data`` as indented JSON, atomically."""
    def write(tmp):
        with open(tmp, "w") as handle:
            json.dump(data, handle, indent=2, default=_to_builtin, allow_nan=True)
            handle.write("\n")
    _atomic_write(path, write)


def read_json(path):
    """Read a JSON file written by ``write_json``."""
    with open(path) as handle:
        return json.load(handle)


def save_npz(path, **arrays):
    """Write arrays to an .npz file, atomically."""
    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    _atomic_write(path, write)


def save_figure(fig, path, dpi=120):
    """Save a Matplotlib figure as PNG, atomically, and close it."""
    def write(tmp):
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    _atomic_write(path, write)
    plt.close(fig)


def format_table(rows, columns):
    """Return rows (a list of dicts) as a fixed-width text table with the given columns."""
    def cell(value):
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    body = [[cell(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in body)) if body else len(column)
              for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(line, widths)) for line in body]
    return "\n".join(lines)
