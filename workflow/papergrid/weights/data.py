"""Digit images for the weights experiment: scikit-learn's digits, or user IDX files.

scikit-learn ships the real 8x8 handwritten digits (1,797 images), so the default
run needs nothing from the network. For MNIST or Fashion-MNIST the user points
the config at the four IDX files; :func:`read_idx` parses them (gzip or not).
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from papergrid.io import atomic_path

log = logging.getLogger(__name__)

# IDX type codes (LeCun's format description) and their big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # (n_train, n_features) float32 in [0, 1]
    y_train: np.ndarray  # (n_train,) int64
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into an array of its stored shape."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"IDX file not found: {path}")
    try:
        with _open(path) as fh:
            header = fh.read(4)
            if len(header) < 4 or header[0] != 0 or header[1] != 0:
                raise IdxFormatError(f"{path}: not an IDX file (bad magic number {header!r})")
            code, ndim = header[2], header[3]
            if code not in _IDX_DTYPES:
                raise IdxFormatError(f"{path}: unknown IDX data type 0x{code:02x}")
            dims = fh.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise IdxFormatError(f"{path}: file ends inside the header")
            shape = struct.unpack(f">{ndim}I", dims)
            dtype = np.dtype(_IDX_DTYPES[code])
            data = fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        # gzip's own message ("Compressed file ended ...") names no file
        raise IdxFormatError(f"{path}: damaged or truncated gzip file ({exc})") from None
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise IdxFormatError(f"{path}: header says {expected} bytes of data, file has {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(array: np.ndarray, path: str | os.PathLike) -> None:
    """Write ``array`` as an IDX file (the inverse of :func:`read_idx`)."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
    dtype = array.dtype.newbyteorder("=")
    if dtype not in codes:
        raise IdxFormatError(f"dtype {array.dtype} has no IDX type code")
    header = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with atomic_path(path) as tmp:
        tmp.write_bytes(header + array.astype(_IDX_DTYPES[codes[dtype]]).tobytes())


def load_digits_split(test_fraction: float, split_seed: int) -> Dataset:
    """scikit-learn's 8x8 digits, scaled to [0, 1], split per class (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=split_seed, stratify=y
    )
    return Dataset("digits", x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64))


def load_idx_split(
    train_images: str | os.PathLike,
    train_labels: str | os.PathLike,
    test_images: str | os.PathLike,
    test_labels: str | os.PathLike,
    train_subset: int | None,
    split_seed: int,
) -> Dataset:
    """MNIST-style IDX files; images are flattened and scaled to [0, 1]."""
    arrays = {}
    for key, path in (
        ("x_train", train_images),
        ("y_train", train_labels),
        ("x_test", test_images),
        ("y_test", test_labels),
    ):
        arrays[key] = read_idx(path)
    for split in ("train", "test"):
        xs, ys = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if xs.ndim < 2 or ys.ndim != 1 or len(xs) != len(ys):
            raise IdxFormatError(
                f"{split} images {xs.shape} and labels {ys.shape} do not match "
                "(expected images (n, rows, cols) and labels (n,))"
            )
    x_tr = arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype(np.float32) / 255.0
    x_te = arrays["x_test"].reshape(len(arrays["x_test"]), -1).astype(np.float32) / 255.0
    y_tr = arrays["y_train"].astype(np.int64)
    y_te = arrays["y_test"].astype(np.int64)
    if train_subset is not None and train_subset < len(y_tr):
        keep = np.sort(np.random.default_rng(split_seed).permutation(len(y_tr))[:train_subset])
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    return Dataset("idx", x_tr, y_tr, x_te, y_te)


def save_dataset(ds: Dataset, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            name=ds.name,
            x_train=ds.x_train,
            y_train=ds.y_train,
            x_test=ds.x_test,
            y_test=ds.y_test,
        )


def load_dataset(path: str | os.PathLike) -> Dataset:
    with np.load(path) as z:
        return Dataset(str(z["name"]), z["x_train"], z["y_train"], z["x_test"], z["y_test"])


def prepare_data(data: Mapping[str, Any], out: str | os.PathLike) -> None:
    if data["source"] == "digits":
        ds = load_digits_split(data["test_fraction"], data["split_seed"])
    else:
        idx = data["idx"]
        ds = load_idx_split(
            idx["train_images"],
            idx["train_labels"],
            idx["test_images"],
            idx["test_labels"],
            data["train_subset"],
            data["split_seed"],
        )
    log.info(
        "%s: %d train, %d test, %d features, %d classes",
        ds.name,
        len(ds.y_train),
        len(ds.y_test),
        ds.n_features,
        ds.n_classes,
    )
    save_dataset(ds, out)
