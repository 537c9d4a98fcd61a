"""Data: one entry point for Yin-Yang, scikit-learn's digits and users' files, and the latency encoding.

:func:`load_dataset` takes a name (``'yin_yang'``, ``'digits'``, a registered
one) or a path (``.npz``, ``.csv``, a folder of MNIST IDX files) and returns a
:class:`Dataset` whose ``load(split)`` gives the ``'train'``,
``'validation'`` and ``'test'`` features (or spike times) and labels;
:func:`encode_times` turns features into input spike latencies.
"""
from .encoding import ENCODING_SETTINGS, check_encoding, encode_times, encoded_inputs
from .registry import DATASETS, DEFAULT_FRACTIONS, Dataset, get_dataset, load_dataset, register_dataset
from .splits import SPLITS, stratified_split
from .yinyang import (YIN_YANG_FEATURES, YIN_YANG_SPLITS, yin_yang, yin_yang_class, yin_yang_features,
                      yin_yang_split)

__all__ = ["load_dataset", "Dataset", "DATASETS", "register_dataset", "get_dataset", "DEFAULT_FRACTIONS",
           "encode_times", "encoded_inputs", "check_encoding", "ENCODING_SETTINGS", "SPLITS", "stratified_split", "yin_yang",
           "yin_yang_split", "yin_yang_class", "yin_yang_features", "YIN_YANG_FEATURES", "YIN_YANG_SPLITS"]
