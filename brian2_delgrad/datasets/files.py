"""Users' data files: ``.npz`` (features or spike times), ``.csv`` (features), MNIST's IDX files. Read strictly.

Every problem is one ``ValueError`` naming the file and the field:

``.npz``
    ``features`` (n, d) in [0, 1] **or** ``times`` (n, d) in seconds (``inf``: the input is silent), ``labels``
    (n,) integers, optional ``split`` (n,) of ``'train'`` / ``'validation'`` / ``'test'``.
``.csv``
    a header; a ``label`` column of integers, an optional ``split`` column, every other column a feature in [0, 1].
IDX (a folder)
    MNIST as downloaded: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte`` (each possibly ``.gz``); pixels / 255 are the features, t10k is the test split and
    the validation split is taken from train by the fractions.
"""
import csv
import gzip
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..utils.memory import check_fits, describe_bytes
from .splits import SPLITS

__all__ = ["read_file"]


def read_file(path):
    """``(kind, values, labels, split)`` of a data file or MNIST folder; ``split`` is ``None`` when it has none.

    ``kind`` is ``'features'`` (values in [0, 1]) or ``'times'`` (seconds).
    """
    path = Path(path)
    if path.is_dir():
        return _read_idx_folder(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file (a FIFO or a device would be read for ever)")
    readers = {".npz": _read_npz, ".csv": _read_csv}
    if path.suffix not in readers:
        raise ValueError(f"{path}: unknown kind of data file; give an .npz, a .csv or a folder of MNIST IDX files")
    return readers[path.suffix](path)


def _read_npz(path):
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive")
    except unreadable as err:
        raise ValueError(f"{path}: not a readable .npz file ({err or type(err).__name__})") from None
    with data:
        _check_memory(path, sum(info.file_size for info in data.zip.infolist()))
        try:
            arrays = {key: data[key] for key in data.files}
        except unreadable as err:
            raise ValueError(f"{path}: not a readable .npz file ({err or type(err).__name__})") from None
    kinds = [key for key in ("features", "times") if key in arrays]
    if len(kinds) != 1:
        raise ValueError(f"{path}: needs exactly one of the arrays 'features' (values in [0, 1]) and 'times' "
                         f"(seconds), has {', '.join(sorted(arrays)) or 'none'}")
    if "labels" not in arrays:
        raise ValueError(f"{path}: labels: missing (an array of integer labels, one per sample)")
    unknown = sorted(set(arrays) - {kinds[0], "labels", "split"})
    if unknown:
        raise ValueError(f"{path}: {unknown[0]}: unknown array; allowed: features or times, labels, split")
    values = _values(path, kinds[0], arrays[kinds[0]])
    labels = _labels(path, arrays["labels"], len(values))
    split = _split(path, arrays["split"], len(values)) if "split" in arrays else None
    return kinds[0], values, labels, split


def _read_csv(path):
    """Read in two passes: count the rows, check the memory they need, then fill arrays row by row (no table of
    Python strings: a CSV needs about the memory of its numbers)."""
    try:
        return _read_csv_rows(path)
    except csv.Error as err:                          # e.g. a field longer than the csv module takes
        raise ValueError(f"{path}: not a readable CSV file ({err})") from None


def _read_csv_rows(path):
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        count = sum(1 for _ in reader)
    if not header:
        raise ValueError(f"{path}: empty file; the first line must name the columns")
    if "label" not in header:
        raise ValueError(f"{path}: label: missing column (the first line names the columns)")
    feature_columns = [k for k, name in enumerate(header) if name not in ("label", "split")]
    if not feature_columns:
        raise ValueError(f"{path}: has no feature columns (every column but label and split is a feature)")
    _check_memory(path, count * (len(feature_columns) + 1) * 8)
    values = np.empty((count, len(feature_columns)))
    labels = np.empty(count, dtype=np.int64)
    split = np.empty(count, dtype="<U10") if "split" in header else None
    label, split_column = header.index("label"), header.index("split") if split is not None else None
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row_index, row in enumerate(reader):
            line = row_index + 2
            if len(row) != len(header):
                raise ValueError(f"{path}: line {line}: has {len(row)} fields, the header {len(header)}")
            try:
                values[row_index] = [float(row[k]) for k in feature_columns]
            except ValueError as err:
                raise ValueError(f"{path}: line {line}: features: not a number ({err})") from None
            try:
                labels[row_index] = int(row[label].strip())
            except ValueError as err:
                raise ValueError(f"{path}: line {line}: label: not an integer ({err})") from None
            if split is not None:
                split[row_index] = row[split_column].strip()[:10]
    values = _values(path, "features", values)
    split = _split(path, split, len(values)) if split is not None else None
    return "features", values, _labels(path, labels, len(values)), split


def _check_memory(path, data_bytes):
    """Refuse (:class:`~brian2_delgrad.utils.memory.MemoryLimitError`) a data file whose numbers would not fit: they are
    held about four times over (the file's arrays, the splits, a split's copy, its spike times)."""
    check_fits(4 * data_bytes, f"{path}: reading its {describe_bytes(data_bytes)} of numbers")



_MNIST = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _read_idx_folder(folder):
    values, labels, split = [], [], []
    for name, (images, digits) in _MNIST.items():
        pixels = _idx(folder, images, 3)
        classes = _idx(folder, digits, 1)
        if len(pixels) != len(classes):
            raise ValueError(f"{folder / images}: {len(pixels)} images but {len(classes)} labels in {digits}")
        values.append(pixels.reshape(len(pixels), -1) / 255.0)
        labels.append(classes.astype(np.int64))
        split.append(np.full(len(pixels), name, dtype=object))
    split = np.concatenate(split).astype(str)
    split[split == "train"] = ""                     # validation is cut from train by the fractions
    return "features", np.concatenate(values), np.concatenate(labels), split


def _idx(folder, stem, dimensions):
    """An unsigned-byte IDX array (MNIST's format: magic 0x0000080N, N sizes, the bytes)."""
    candidates = [folder / stem, folder / f"{stem}.gz"]
    path = next((c for c in candidates if c.exists()), None)
    if path is None:
        raise ValueError(f"{folder}: {stem}: missing (MNIST's IDX files, as downloaded, possibly .gz)")
    if not path.is_file():
        raise ValueError(f"{path}: not a regular file")
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
            head = handle.read(4 + 4 * dimensions)
            if len(head) < 4 + 4 * dimensions or head[:3] != b"\x00\x00\x08" or head[3] != dimensions:
                raise ValueError(f"{path}: not an IDX file of unsigned bytes with {dimensions} dimension(s)")
            sizes = [int.from_bytes(head[4 + 4 * k:8 + 4 * k], "big") for k in range(dimensions)]
            _check_memory(path, 8 * int(np.prod(sizes)))   # the bytes become float64 features
            raw = handle.read()
    except (OSError, EOFError, zlib.error) as err:     # a damaged .gz
        raise ValueError(f"{path}: cannot be read ({err})") from None
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size != np.prod(sizes):
        raise ValueError(f"{path}: holds {data.size} bytes of data, its header says {int(np.prod(sizes))}")
    return data.reshape(sizes)


def _values(path, kind, values):
    if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"{path}: {kind}: must be (samples, inputs), got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{path}: {kind}: must be numbers, got {values.dtype}")
    values = values.astype(np.float64)
    if np.isnan(values).any():
        raise ValueError(f"{path}: {kind}: contains NaN")
    if kind == "features" and (np.any(values < 0) or np.any(values > 1)):
        raise ValueError(f"{path}: features: must lie in [0, 1], got [{values.min():g}, {values.max():g}]")
    if kind == "times" and (np.any(values < 0) or np.isneginf(values).any()):
        raise ValueError(f"{path}: times: must be >= 0 seconds (inf: no spike), got a minimum of {values.min():g}")
    return values


def _labels(path, labels, count):
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(f"{path}: labels: must be one per sample, shape ({count},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not (np.issubdtype(labels.dtype, np.floating) and np.all(np.isfinite(labels))
                and np.all(labels == np.round(labels))):
            raise ValueError(f"{path}: labels: must be integers, got {labels.dtype}")
    labels = labels.astype(np.int64)
    if labels.min() < 0:
        raise ValueError(f"{path}: labels: must be >= 0 (0 ... n_classes - 1), got {labels.min()}")
    return labels


def _split(path, split, count):
    split = np.asarray(split).astype(str)
    if split.shape != (count,):
        raise ValueError(f"{path}: split: must be one per sample, shape ({count},), got {split.shape}")
    unknown = sorted(set(split.tolist()) - set(SPLITS))
    if unknown:
        raise ValueError(f"{path}: split: {unknown[0]!r} is not one of 'train', 'validation', 'test'")
    return split
