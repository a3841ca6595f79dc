#!/usr/bin/env python3
"""Writes seeds/pickle_file/: small pickles of NumPy weights as Python writes them, for the fuzz
target pickle_file. Run it once with NumPy 2 and once with NumPy 1 (`python3 make_pickle_seeds.py`
from fuzz/): the files are named after the NumPy major version, whose globals differ
(`numpy._core` or `numpy.core`), and after the protocol (5 stores arrays with `_frombuffer`).
"""
import collections
import pickle
from pathlib import Path

import numpy as np

out = Path(__file__).resolve().parent / "seeds" / "pickle_file"
out.mkdir(parents=True, exist_ok=True)
major = np.__version__.split(".")[0]
rng = np.random.default_rng(7)

# A dense 4-3-2 network: float32 with W1 in Fortran order (as the book's sample_weight.pkl).
dense = {
    "W1": np.asfortranarray(rng.normal(size=(4, 3)).astype(np.float32)),
    "b1": rng.normal(size=3).astype(np.float32),
    "W2": rng.normal(size=(3, 2)).astype(np.float32),
    "b2": rng.normal(size=2).astype(np.float32),
}
# The fuzz target's architecture, conv(4,3,pad=1) relu maxpool(2) flatten dense(10) on 1x8x8:
# float64, big-endian biases, in an OrderedDict.
conv = collections.OrderedDict(
    W1=rng.normal(size=(4, 1, 3, 3)),
    b1=rng.normal(size=4).astype(">f8"),
    W2=rng.normal(size=(64, 10)),
    b2=rng.normal(size=10).astype(">f8"),
)
for protocol in [2, 3, 4, 5]:
    with open(out / f"dense-numpy{major}-p{protocol}.pkl", "wb") as f:
        pickle.dump(dense, f, protocol=protocol)
for protocol in [2, 5]:
    with open(out / f"conv-numpy{major}-p{protocol}.pkl", "wb") as f:
        pickle.dump(conv, f, protocol=protocol)
