import gzip

import numpy as np
import pytest

from papergrid.weights.data import (
    IdxFormatError,
    load_dataset,
    load_digits_split,
    load_idx_split,
    read_idx,
    save_dataset,
    write_idx,
)


def test_idx_round_trip_preserves_shape_and_values(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    write_idx(images, tmp_path / "img.idx")
    assert np.array_equal(read_idx(tmp_path / "img.idx"), images)


def test_idx_header_is_the_mnist_layout(tmp_path):
    write_idx(np.zeros((2, 28, 28), dtype=np.uint8), tmp_path / "x")
    raw = (tmp_path / "x").read_bytes()
    # magic 0x00000803 then big-endian dims: the layout of train-images-idx3-ubyte
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert int.from_bytes(raw[4:8], "big") == 2 and int.from_bytes(raw[8:12], "big") == 28
    assert len(raw) == 16 + 2 * 28 * 28


def test_reads_gzipped_idx(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    write_idx(labels, tmp_path / "l.idx")
    (tmp_path / "l.idx.gz").write_bytes(gzip.compress((tmp_path / "l.idx").read_bytes()))
    assert np.array_equal(read_idx(tmp_path / "l.idx.gz"), labels)


def test_rejects_bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(IdxFormatError, match="bad magic"):
        read_idx(tmp_path / "bad")
    write_idx(np.zeros(10, dtype=np.uint8), tmp_path / "short")
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-3])
    with pytest.raises(IdxFormatError, match="header says 10 bytes"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "missing")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_a_truncated_gzip_file_is_named(tmp_path, keep):
    write_idx(np.arange(4000, dtype=np.int32), tmp_path / "labels")
    whole = gzip.compress((tmp_path / "labels").read_bytes())
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(IdxFormatError, match=r"train-labels-idx1-ubyte\.gz: damaged or truncated"):
        read_idx(path)


def test_a_header_cut_short_is_named(tmp_path):
    (tmp_path / "h").write_bytes(bytes([0, 0, 0x08, 3, 0, 0]))
    with pytest.raises(IdxFormatError, match=r"h: file ends inside the header"):
        read_idx(tmp_path / "h")


def write_fake_mnist(root, n_train=20, n_test=8):
    rng = np.random.default_rng(0)
    paths = {}
    for split, n in (("train", n_train), ("test", n_test)):
        paths[f"{split}_images"] = root / f"{split}-images-idx3-ubyte"
        paths[f"{split}_labels"] = root / f"{split}-labels-idx1-ubyte"
        write_idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), paths[f"{split}_images"])
        write_idx(rng.integers(0, 10, n, dtype=np.uint8), paths[f"{split}_labels"])
    return paths


def test_load_idx_split_scales_flattens_and_subsets(tmp_path):
    paths = write_fake_mnist(tmp_path)
    ds = load_idx_split(**paths, train_subset=12, split_seed=0)
    assert ds.x_train.shape == (12, 784) and ds.x_test.shape == (8, 784)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.y_train.dtype == np.int64


def test_load_idx_split_rejects_mismatched_labels(tmp_path):
    paths = write_fake_mnist(tmp_path)
    write_idx(np.zeros(5, dtype=np.uint8), paths["test_labels"])
    with pytest.raises(IdxFormatError, match="do not match"):
        load_idx_split(**paths, train_subset=None, split_seed=0)


def test_digits_split_is_stratified_and_saved(tmp_path):
    ds = load_digits_split(0.2, 0)
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert ds.n_features == 64 and ds.n_classes == 10
    assert set(np.unique(ds.y_test)) == set(range(10))
    save_dataset(ds, tmp_path / "d.npz")
    back = load_dataset(tmp_path / "d.npz")
    assert np.array_equal(back.x_test, ds.x_test) and back.name == "digits"
