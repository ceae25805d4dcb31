"""Fashion-MNIST and CIFAR-10 loaders on small fake files written here; no test touches the network."""

import gzip
import hashlib
import io
import socket
import tarfile

import numpy as np
import pytest

import data

SIDE = data.FASHION_MNIST_SIDE
SMALL_SIZES = {"train": 6, "t10k": 4}
SMALL_RECORDS = 3


def idx_bytes(magic, array):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_gz(path, payload):
    with gzip.open(path, "wb") as handle:
        handle.write(payload)


def fake_fashion_arrays(rng):
    arrays = {}
    for split, count in SMALL_SIZES.items():
        arrays[split] = (rng.integers(0, 256, (count, SIDE, SIDE)), rng.integers(0, 10, count))
    return arrays


def write_fake_fashion(folder, rng):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = fake_fashion_arrays(rng)
    for split, (images, labels) in arrays.items():
        write_gz(folder / f"{split}-images-idx3-ubyte.gz", idx_bytes(data.IDX_IMAGES_MAGIC, images))
        write_gz(folder / f"{split}-labels-idx1-ubyte.gz", idx_bytes(data.IDX_LABELS_MAGIC, labels))
    return arrays


def fake_cifar_records(rng):
    labels = rng.integers(0, 10, SMALL_RECORDS)
    pixels = rng.integers(0, 256, (SMALL_RECORDS, data.CIFAR10_PIXELS))
    return np.column_stack([labels, pixels]).astype(np.uint8)


def write_fake_cifar(folder, rng, skip=(), records=None):
    folder.mkdir(parents=True, exist_ok=True)
    contents = {}
    with tarfile.open(folder / data.CIFAR10_ARCHIVE, "w:gz") as tar:
        for name in (*data.CIFAR10_TRAIN_MEMBERS, data.CIFAR10_TEST_MEMBER):
            if name in skip:
                continue
            table = fake_cifar_records(rng) if records is None else records
            contents[name] = table
            payload = table.tobytes()
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return contents


@pytest.fixture
def small_sizes(monkeypatch):
    monkeypatch.setattr(data, "FASHION_MNIST_SIZES", dict(SMALL_SIZES))
    monkeypatch.setattr(data, "CIFAR10_RECORDS_PER_FILE", SMALL_RECORDS)


@pytest.fixture
def no_network(monkeypatch):
    """Make every socket creation fail and record the attempts."""
    attempts = []

    def reject(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket, "socket", reject)
    monkeypatch.setattr(socket, "create_connection", reject)
    return attempts


# ---------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------


def test_fashion_mnist_shapes_and_values(tmp_path, small_sizes):
    arrays = write_fake_fashion(tmp_path, np.random.default_rng(0))
    dataset = data.load_fashion_mnist(tmp_path)
    assert dataset.X_train.shape == (SIDE * SIDE, SMALL_SIZES["train"])
    assert dataset.X_test.shape == (SIDE * SIDE, SMALL_SIZES["t10k"])
    assert dataset.X_train.dtype == np.float32
    assert dataset.Y_train.shape == (10, SMALL_SIZES["train"])
    assert dataset.labels_train.dtype == np.int64
    images, labels = arrays["train"]
    # Column j is image j flattened row by row, scaled to [0, 1].
    np.testing.assert_allclose(dataset.X_train[:, 2], images[2].reshape(-1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(dataset.labels_train, labels)
    np.testing.assert_array_equal(dataset.Y_train.argmax(axis=0), labels)
    np.testing.assert_array_equal(dataset.labels_test, arrays["t10k"][1])
    assert dataset.X_train.min() >= 0.0
    assert dataset.X_train.max() <= 1.0


def test_fashion_mnist_float64_on_request(tmp_path, small_sizes):
    write_fake_fashion(tmp_path, np.random.default_rng(1))
    dataset = data.load_fashion_mnist(tmp_path, dtype=np.float64)
    assert dataset.X_train.dtype == np.float64
    assert dataset.Y_test.dtype == np.float64


def test_fashion_mnist_missing_file_message(tmp_path, small_sizes, no_network):
    write_fake_fashion(tmp_path, np.random.default_rng(2))
    missing = tmp_path / "t10k-labels-idx1-ubyte.gz"
    missing.unlink()
    with pytest.raises(FileNotFoundError) as info:
        data.load_fashion_mnist(tmp_path)
    message = str(info.value)
    assert str(missing) in message
    assert "--download" in message
    assert data.FASHION_MNIST_URL in message
    assert no_network == []


def test_fashion_mnist_does_not_download_by_default(tmp_path, no_network):
    with pytest.raises(FileNotFoundError):
        data.load_fashion_mnist(tmp_path / "empty")
    assert no_network == []
    assert not (tmp_path / "empty").exists()


def test_idx_wrong_magic_number(tmp_path, small_sizes):
    write_fake_fashion(tmp_path, np.random.default_rng(3))
    labels = np.zeros(SMALL_SIZES["train"], dtype=np.uint8)
    # A label file where an image file belongs.
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_gz(path, idx_bytes(data.IDX_LABELS_MAGIC, labels))
    with pytest.raises(ValueError, match="magic number 0x00000801, expected 0x00000803") as info:
        data.load_fashion_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_idx_wrong_dimensions(tmp_path, small_sizes):
    write_fake_fashion(tmp_path, np.random.default_rng(4))
    images = np.zeros((SMALL_SIZES["train"], SIDE, SIDE - 1), dtype=np.uint8)
    write_gz(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(data.IDX_IMAGES_MAGIC, images))
    with pytest.raises(ValueError, match="dimensions"):
        data.load_fashion_mnist(tmp_path)


def test_idx_truncated_data(tmp_path, small_sizes):
    write_fake_fashion(tmp_path, np.random.default_rng(5))
    labels = np.zeros(SMALL_SIZES["t10k"], dtype=np.uint8)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_gz(path, idx_bytes(data.IDX_LABELS_MAGIC, labels)[:-1])
    with pytest.raises(ValueError, match="truncated") as info:
        data.load_fashion_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_idx_not_gzip(tmp_path, small_sizes):
    write_fake_fashion(tmp_path, np.random.default_rng(6))
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match="gzip") as info:
        data.load_fashion_mnist(tmp_path)
    assert str(path) in str(info.value)


def test_idx_label_out_of_range(tmp_path, small_sizes):
    write_fake_fashion(tmp_path, np.random.default_rng(7))
    labels = np.full(SMALL_SIZES["train"], 12, dtype=np.uint8)
    write_gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(data.IDX_LABELS_MAGIC, labels))
    with pytest.raises(ValueError, match="label 12"):
        data.load_fashion_mnist(tmp_path)


def test_fashion_mnist_official_sizes_by_default(tmp_path):
    # Without the small-size fixture the loader expects 60000 training images.
    write_fake_fashion(tmp_path, np.random.default_rng(8))
    with pytest.raises(ValueError, match="60000"):
        data.load_fashion_mnist(tmp_path)


# ---------------------------------------------------------------------------
# Downloads, served from local file:// URLs
# ---------------------------------------------------------------------------


def md5_of(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_fashion_mnist_download_verifies_checksums(tmp_path, monkeypatch, small_sizes, no_network):
    source = tmp_path / "server"
    arrays = write_fake_fashion(source, np.random.default_rng(9))
    checksums = {name: md5_of(source / name) for name in data.FASHION_MNIST_FILES}
    monkeypatch.setattr(data, "FASHION_MNIST_URL", source.as_uri() + "/")
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", checksums)
    target = tmp_path / "local"
    dataset = data.load_fashion_mnist(target, download=True)
    assert sorted(p.name for p in target.iterdir()) == sorted(checksums)
    np.testing.assert_array_equal(dataset.labels_train, arrays["train"][1])
    assert no_network == []


def test_download_checksum_mismatch_keeps_nothing(tmp_path, monkeypatch, small_sizes):
    source = tmp_path / "server"
    write_fake_fashion(source, np.random.default_rng(10))
    wrong = {name: "0" * 32 for name in data.FASHION_MNIST_FILES}
    monkeypatch.setattr(data, "FASHION_MNIST_URL", source.as_uri() + "/")
    monkeypatch.setattr(data, "FASHION_MNIST_FILES", wrong)
    target = tmp_path / "local"
    with pytest.raises(ValueError, match="checksum mismatch"):
        data.load_fashion_mnist(target, download=True)
    assert list(target.iterdir()) == []


def test_cifar10_download_verifies_checksum(tmp_path, monkeypatch, small_sizes, no_network):
    source = tmp_path / "server"
    write_fake_cifar(source, np.random.default_rng(11))
    archive = source / data.CIFAR10_ARCHIVE
    monkeypatch.setattr(data, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(data, "CIFAR10_MD5", md5_of(archive))
    target = tmp_path / "local"
    dataset = data.load_cifar10(target, download=True)
    assert (target / data.CIFAR10_ARCHIVE).read_bytes() == archive.read_bytes()
    assert dataset.X_train.shape[1] == 5 * SMALL_RECORDS
    assert no_network == []


# ---------------------------------------------------------------------------
# CIFAR-10
# ---------------------------------------------------------------------------


def test_cifar10_shapes_and_values(tmp_path, small_sizes):
    contents = write_fake_cifar(tmp_path, np.random.default_rng(12))
    dataset = data.load_cifar10(tmp_path)
    assert dataset.X_train.shape == (data.CIFAR10_PIXELS, 5 * SMALL_RECORDS)
    assert dataset.X_test.shape == (data.CIFAR10_PIXELS, SMALL_RECORDS)
    assert dataset.X_train.dtype == np.float32
    assert dataset.labels_train.dtype == np.int64
    first = contents[data.CIFAR10_TRAIN_MEMBERS[0]]
    second = contents[data.CIFAR10_TRAIN_MEMBERS[1]]
    # Training columns follow data_batch_1, ..., data_batch_5 in file order.
    np.testing.assert_allclose(dataset.X_train[:, 0], first[0, 1:] / 255, rtol=1e-6)
    np.testing.assert_allclose(dataset.X_train[:, SMALL_RECORDS], second[0, 1:] / 255, rtol=1e-6)
    np.testing.assert_array_equal(dataset.labels_train[:SMALL_RECORDS], first[:, 0])
    np.testing.assert_array_equal(dataset.labels_test, contents[data.CIFAR10_TEST_MEMBER][:, 0])
    np.testing.assert_array_equal(dataset.Y_test.argmax(axis=0), dataset.labels_test)


def test_cifar10_missing_archive_message(tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as info:
        data.load_cifar10(tmp_path)
    message = str(info.value)
    assert str(tmp_path / data.CIFAR10_ARCHIVE) in message
    assert "--download" in message
    assert data.CIFAR10_MD5 in message
    assert no_network == []


def test_cifar10_missing_member(tmp_path, small_sizes):
    write_fake_cifar(tmp_path, np.random.default_rng(13), skip=(data.CIFAR10_TEST_MEMBER,))
    with pytest.raises(ValueError, match="no member cifar-10-batches-bin/test_batch.bin"):
        data.load_cifar10(tmp_path)


def test_cifar10_wrong_member_size(tmp_path, small_sizes):
    short = fake_cifar_records(np.random.default_rng(14))[:-1]
    write_fake_cifar(tmp_path, np.random.default_rng(14), records=short)
    with pytest.raises(ValueError, match="expected"):
        data.load_cifar10(tmp_path)


def test_cifar10_label_out_of_range(tmp_path, small_sizes):
    records = fake_cifar_records(np.random.default_rng(15))
    records[1, 0] = 10
    write_fake_cifar(tmp_path, np.random.default_rng(15), records=records)
    with pytest.raises(ValueError, match="label 10"):
        data.load_cifar10(tmp_path)


def test_cifar10_corrupt_archive(tmp_path, small_sizes):
    archive = tmp_path / data.CIFAR10_ARCHIVE
    archive.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="not a readable") as info:
        data.load_cifar10(tmp_path)
    assert str(archive) in str(info.value)
