"""Data sets, with samples as columns: X is d x N, Y is K x N.

Synthetic data for the theory, built to be linearly realizable so that a
near-linear network can fit it exactly:

- ``orthogonal_data``: X a random d x d orthogonal matrix (N = d, so
  X X^T = I) and one-hot labels for K classes.
- ``teacher_data``: whitened X with N >= d and Y = T X for a rank-r linear
  teacher T (K x d).

Real data: ``load_mnist1d`` generates MNIST-1D (Greydanus & Kobak) locally.
``load_fashion_mnist`` and ``load_cifar10`` read the official files from a
local folder and download them only when asked (``download=True``).
Also ``one_hot``, ``train_test_split`` and ``standardize``.
"""

import gzip
import hashlib
import logging
import os
import random
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

from subspace import semi_orthogonal, whiten


def one_hot(labels, K, dtype=np.float64):
    """Return the K x N one-hot matrix of integer ``labels`` (shape (N,), values 0..K-1)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"labels must lie in 0..{K - 1} for K = {K} classes, "
                         f"got values from {labels.min()} to {labels.max()}")
    Y = np.zeros((K, labels.size), dtype=dtype)
    Y[labels, np.arange(labels.size)] = 1.0
    return Y


def balanced_labels(N, K, rng):
    """Return N labels in random order, each of the K classes appearing N // K or N // K + 1 times."""
    return rng.permutation(np.arange(N) % K)


def orthogonal_data(d, K, rng=None, dtype=np.float64):
    """Return (X, Y, labels): X a d x d random orthogonal matrix, Y one-hot K x d.

    With N = d samples and X X^T = I, any Y is fitted exactly by the linear
    map Y X^T, so the data are linearly realizable.
    """
    if not 1 <= K <= d:
        raise ValueError(f"need 1 <= K <= d, got K={K}, d={d}")
    rng = np.random.default_rng(rng)
    X = semi_orthogonal(d, d, 1.0, rng, dtype)
    labels = balanced_labels(d, K, rng)
    return X, one_hot(labels, K, dtype), labels


def teacher_data(d, K, N, rank=None, rng=None, scale=1.0, dtype=np.float64):
    """Return (X, Y, T): whitened X (d x N), a rank-``rank`` teacher T (K x d) and Y = T X.

    T = scale * A B^T with A (K x rank) and B (d x rank) orthonormal columns,
    so its nonzero singular values all equal ``scale``. rank defaults to K.
    """
    rank = K if rank is None else rank
    if N < d:
        raise ValueError(f"teacher_data needs N >= d for whitened X, got N={N}, d={d}")
    if not 1 <= rank <= min(K, d):
        raise ValueError(f"rank must be between 1 and min(K, d) = {min(K, d)}, got {rank}")
    rng = np.random.default_rng(rng)
    X = whiten(rng.standard_normal((d, N)))
    A = semi_orthogonal(K, rank, 1.0, rng)
    B = semi_orthogonal(d, rank, 1.0, rng)
    T = scale * A @ B.T
    return X.astype(dtype), (T @ X).astype(dtype), T.astype(dtype)


def train_test_split(X, Y, test_fraction=0.2, rng=None):
    """Split the columns of X and Y at random; return X_train, Y_train, X_test, Y_test."""
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X has {X.shape[1]} samples but Y has {Y.shape[1]}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(rng)
    order = rng.permutation(X.shape[1])
    n_test = int(round(test_fraction * X.shape[1]))
    if n_test == 0 or n_test == X.shape[1]:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty split of {X.shape[1]} samples")
    test, train = order[:n_test], order[n_test:]
    return X[:, train], Y[:, train], X[:, test], Y[:, test]


def standardize(X_train, X_test):
    """Center and scale each feature (row) with the training set's mean and standard deviation."""
    mean = X_train.mean(axis=1, keepdims=True)
    std = X_train.std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


# ---------------------------------------------------------------------------
# Real data sets
# ---------------------------------------------------------------------------


class Dataset(NamedTuple):
    """A classification data set with samples as columns.

    X_train: (d, N_train), Y_train: (K, N_train) one-hot, labels_train: (N_train,) int64,
    and the same for the test split.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    labels_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    labels_test: np.ndarray

    @property
    def n_classes(self):
        return self.Y_train.shape[0]


def load_mnist1d(n_samples=5000, train_fraction=0.8, seed=42, dtype=np.float64):
    """Generate MNIST-1D with the ``mnist1d`` package's local generator; never downloads.

    Defaults give 40 features, 10 classes, 4000 training and 1000 test
    samples, with the generator settings of ``mnist1d.data.get_dataset_args``
    (mnist1d 0.0.2). seed=42 is that package's default. The package's
    ``get_dataset`` would fetch a pickle over HTTP; this calls its
    ``make_dataset`` instead, which only computes.

    The generator seeds Python's and NumPy's global random state; both are
    restored afterwards, so loading does not disturb other code.
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imported here: it pulls in scipy

    args = get_dataset_args()
    args.num_samples = int(n_samples)
    args.train_split = float(train_fraction)
    args.seed = int(seed)
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(args)
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    labels_train = np.asarray(raw["y"], dtype=np.int64)
    labels_test = np.asarray(raw["y_test"], dtype=np.int64)
    n_classes = 10
    return Dataset(
        X_train=np.ascontiguousarray(raw["x"].T, dtype=dtype),
        Y_train=one_hot(labels_train, n_classes, dtype),
        labels_train=labels_train,
        X_test=np.ascontiguousarray(raw["x_test"].T, dtype=dtype),
        Y_test=one_hot(labels_test, n_classes, dtype),
        labels_test=labels_test,
    )


# ---------------------------------------------------------------------------
# Fashion-MNIST and CIFAR-10 from local files
# ---------------------------------------------------------------------------
#
# Both loaders read the official files from a local folder (git ignores
# data_files/) and return a Dataset with pixel values scaled to [0, 1]. They
# do not standardize, so call ``standardize`` on the result. Nothing is
# fetched unless download=True, and a fetched file is kept only if its MD5 matches.
# The loaders check magic numbers, dimensions and byte counts, and never
# unpickle anything.

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data_files"

# Official location and MD5 checksums, from the table in the Fashion-MNIST
# README (github.com/zalandoresearch/fashion-mnist).
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST_SIZES = {"train": 60000, "t10k": 10000}
FASHION_MNIST_SIDE = 28
IDX_IMAGES_MAGIC = 0x00000803  # IDX header: 0, 0, type 0x08 (unsigned byte), 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # the same with 1 dimension

# Official archive of the binary version and its MD5, as listed in the download
# table of https://www.cs.toronto.edu/~kriz/cifar.html (read from a copy of that
# table, not from the site itself).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_TRAIN_MEMBERS = tuple(f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_TEST_MEMBER = "cifar-10-batches-bin/test_batch.bin"
CIFAR10_RECORDS_PER_FILE = 10000
CIFAR10_PIXELS = 3 * 32 * 32  # red plane, then green, then blue; each 32 x 32 row-major
CIFAR10_RECORD_BYTES = 1 + CIFAR10_PIXELS  # one label byte, then the pixels


def download_file(url, path, md5):
    """Fetch ``url`` with urllib into ``path``, keeping it only if its MD5 equals ``md5``.

    The bytes go to a temporary file in the same folder, which is renamed to
    ``path`` after the checksum matches and deleted otherwise. Raises
    ValueError on a checksum mismatch; network errors propagate from urllib.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", url, path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    digest = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise ValueError(f"checksum mismatch for {url}: MD5 {digest.hexdigest()}, expected {md5}. "
                             "The download was discarded; try again, or fetch the file by hand.")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("saved %s (MD5 verified)", path)


def read_idx(path, magic, shape):
    """Return the uint8 array stored in the gzipped IDX file ``path``.

    magic: the expected 4-byte header (IDX_IMAGES_MAGIC or IDX_LABELS_MAGIC).
    shape: the expected dimensions, e.g. (60000, 28, 28). Raises ValueError
    naming the path when the file is not gzip, or its magic number,
    dimensions or byte count differ.
    """
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} is not a readable gzip file ({error}); delete it and "
                         "download it again") from error
    header = 4 + 4 * len(shape)
    found = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found != magic:
        raise ValueError(f"{path} has magic number 0x{found:08x}, expected 0x{magic:08x}; it is not "
                         f"an IDX file of {len(shape)}-dimensional unsigned bytes")
    if len(raw) < header:
        raise ValueError(f"{path} has {len(raw)} bytes, fewer than its {header}-byte IDX header; "
                         "the file is truncated, download it again")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(len(shape)))
    if dims != tuple(shape):
        raise ValueError(f"{path} has dimensions {dims}, expected {tuple(shape)}")
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise ValueError(f"{path} has {len(raw) - header} data bytes, expected {count} for dimensions "
                         f"{tuple(shape)}; the file is truncated or corrupt, download it again")
    return np.frombuffer(raw, dtype=np.uint8, count=count, offset=header).reshape(shape)


def _check_labels(labels, source, K=10):
    if labels.size and labels.max() >= K:
        raise ValueError(f"{source} contains label {labels.max()}, expected 0..{K - 1}")
    return labels.astype(np.int64)


def _image_dataset(pixels_train, labels_train, pixels_test, labels_test, dtype):
    """Build a Dataset from uint8 pixels (N x d) scaled to [0, 1] and integer labels."""
    X_train = np.ascontiguousarray(pixels_train.T, dtype=dtype)
    X_test = np.ascontiguousarray(pixels_test.T, dtype=dtype)
    X_train /= 255  # in place, so no second copy of the largest array is made
    X_test /= 255
    return Dataset(
        X_train=X_train,
        Y_train=one_hot(labels_train, 10, dtype),
        labels_train=labels_train,
        X_test=X_test,
        Y_test=one_hot(labels_test, 10, dtype),
        labels_test=labels_test,
    )


def load_fashion_mnist(folder=None, download=False, dtype=np.float32):
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from its four gzipped IDX files.

    folder: contains train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
        t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz; default
        ``data_files/fashion_mnist/`` in the repository.
    download: fetch missing files from FASHION_MNIST_URL, checking their MD5.
    Returns a Dataset with X_train (784, 60000) and X_test (784, 10000),
    pixel values in [0, 1] as ``dtype``, each column a 28 x 28 image in
    row-major order, and 10 classes. float32 is the default because the
    float64 training matrix alone would take 376 MB.

    Raises FileNotFoundError naming a missing file and how to get it, and
    ValueError naming a file whose format is wrong.
    """
    folder = Path(folder) if folder is not None else DATA_DIR / "fashion_mnist"
    for name, md5 in FASHION_MNIST_FILES.items():
        path = folder / name
        if path.is_file():
            continue
        if download:
            download_file(FASHION_MNIST_URL + name, path, md5)
        else:
            raise FileNotFoundError(
                f"Fashion-MNIST file not found: {path}. Download {FASHION_MNIST_URL}{name} "
                f"(MD5 {md5}) into {folder}, or pass download=True (the experiment scripts "
                "take --download).")

    side = FASHION_MNIST_SIDE
    splits = {}
    for split, count in FASHION_MNIST_SIZES.items():
        images_path = folder / f"{split}-images-idx3-ubyte.gz"
        labels_path = folder / f"{split}-labels-idx1-ubyte.gz"
        images = read_idx(images_path, IDX_IMAGES_MAGIC, (count, side, side))
        labels = _check_labels(read_idx(labels_path, IDX_LABELS_MAGIC, (count,)), labels_path)
        splits[split] = (images.reshape(count, side * side), labels)
    return _image_dataset(*splits["train"], *splits["t10k"], dtype)


def _read_cifar_member(archive, tar, name):
    """Return (pixels (n, 3072) uint8, labels (n,) int64) from one .bin member of the archive."""
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ValueError(f"{archive} has no member {name}; it is not the CIFAR-10 binary archive "
                         f"({CIFAR10_ARCHIVE})") from None
    expected = CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD_BYTES
    if not member.isfile() or member.size != expected:
        raise ValueError(f"{archive}: member {name} has {member.size} bytes, expected {expected} "
                         f"({CIFAR10_RECORDS_PER_FILE} records of {CIFAR10_RECORD_BYTES} bytes)")
    raw = tar.extractfile(member).read()
    if len(raw) != expected:
        raise ValueError(f"{archive}: member {name} is truncated ({len(raw)} of {expected} bytes)")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(CIFAR10_RECORDS_PER_FILE, CIFAR10_RECORD_BYTES)
    return records[:, 1:], _check_labels(records[:, 0], f"{archive}: {name}")


def load_cifar10(folder=None, download=False, dtype=np.float32):
    """Load CIFAR-10 (Krizhevsky 2009) from the binary archive cifar-10-binary.tar.gz.

    folder: contains cifar-10-binary.tar.gz; default ``data_files/cifar10/`` in
        the repository. The archive is read in place (nothing is extracted),
        and the five training files and the test file inside it are checked
        for their byte counts and labels.
    download: fetch the archive from CIFAR10_URL if missing, checking its MD5.
    Returns a Dataset with X_train (3072, 50000) and X_test (3072, 10000),
    pixel values in [0, 1] as ``dtype``. Each column lists the red 32 x 32
    plane in row-major order, then green, then blue, as stored in the files.

    Raises FileNotFoundError naming the missing archive and how to get it, and
    ValueError when the archive is corrupt or lacks a member.
    """
    folder = Path(folder) if folder is not None else DATA_DIR / "cifar10"
    archive = folder / CIFAR10_ARCHIVE
    if not archive.is_file():
        if download:
            download_file(CIFAR10_URL, archive, CIFAR10_MD5)
        else:
            raise FileNotFoundError(
                f"CIFAR-10 archive not found: {archive}. Download {CIFAR10_URL} (MD5 {CIFAR10_MD5}) "
                f"into {folder}, or pass download=True (the experiment scripts take --download).")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            train = [_read_cifar_member(archive, tar, name) for name in CIFAR10_TRAIN_MEMBERS]
            pixels_test, labels_test = _read_cifar_member(archive, tar, CIFAR10_TEST_MEMBER)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"{archive} is not a readable .tar.gz archive ({error}); delete it and "
                         "download it again") from error
    pixels_train = np.concatenate([pixels for pixels, _ in train])
    labels_train = np.concatenate([labels for _, labels in train])
    return _image_dataset(pixels_train, labels_train, pixels_test, labels_test, dtype)
