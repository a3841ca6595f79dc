"""Pickles of NumPy weights as the code of Saito's Deep Learning from Scratch writes them, and
NumPy's own forward pass on them, for tests/pickle_commands.rs.

Usage: python3 pickle_commands.py OUT_DIR

Writes into OUT_DIR:
- dense_<dtype>_p<protocol>.pkl for float32 and float64 and protocols 2, 4 and 5: a dict like
  ch03/sample_weight.pkl, W1 (784, 50), b1, W2 (50, 100), b2, W3 (100, 10), b3, with random
  weights of a fixed seed. As in the book's file, the float32 W1 is in Fortran order; the
  float64 biases are big-endian.
- conv_p<protocol>.pkl for protocols 2 and 4: a small SimpleConvNet-like dict (conv 3 filters
  of 3x3 on 1x8x8, relu, 2x2 max pooling, dense 5, relu, dense 10), in an OrderedDict for
  protocol 4.
- cases.json: the inputs, and for each file the outputs of NumPy's forward pass computed in
  float64 from the stored weights: Saito's predict (sigmoid hidden layers, softmax output) for
  the dense files, his SimpleConvNet's layers for the conv files.
"""

import collections
import json
import pickle
import sys
from pathlib import Path

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def dense_predict(params, x):
    """Saito's ch03 predict: sigmoid, sigmoid, softmax."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    a1 = sigmoid(x @ p["W1"] + p["b1"])
    a2 = sigmoid(a1 @ p["W2"] + p["b2"])
    return softmax(a2 @ p["W3"] + p["b3"])


def conv_predict(params, x):
    """Convolution (stride 1, no padding), relu, 2x2 max pooling, flatten, dense, relu, dense,
    softmax: Saito's SimpleConvNet, written with loops over the output."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    w, b = p["W1"], p["b1"]
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    conv = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i : i + kh, j : j + kw]
            conv[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    relu = np.maximum(conv, 0)
    pooled = relu.reshape(n, f, oh // 2, 2, ow // 2, 2).max(axis=(3, 5))
    flat = pooled.reshape(n, -1)
    hidden = np.maximum(flat @ p["W2"] + p["b2"], 0)
    return softmax(hidden @ p["W3"] + p["b3"])


def main():
    out = Path(sys.argv[1])
    rng = np.random.default_rng(20240604)
    cases = {"dense": {}, "conv": {}}

    dense_inputs = rng.random((6, 784)).astype(np.float32)
    cases["dense_inputs"] = dense_inputs.tolist()
    sizes = [784, 50, 100, 10]
    base = {}
    for k in range(1, 4):
        base[f"W{k}"] = rng.normal(0, 0.3, (sizes[k - 1], sizes[k]))
        base[f"b{k}"] = rng.normal(0, 0.1, sizes[k])
    for dtype in ["float32", "float64"]:
        params = {name: value.astype(dtype) for name, value in base.items()}
        if dtype == "float32":
            params["W1"] = np.asfortranarray(params["W1"])
        else:
            for k in range(1, 4):
                params[f"b{k}"] = params[f"b{k}"].astype(">f8")
        expected = dense_predict(params, dense_inputs.astype(np.float64))
        for protocol in [2, 4, 5]:
            name = f"dense_{dtype}_p{protocol}.pkl"
            with open(out / name, "wb") as f:
                pickle.dump(params, f, protocol=protocol)
            cases["dense"][name] = expected.tolist()

    conv_inputs = rng.random((4, 1, 8, 8)).astype(np.float32)
    cases["conv_inputs"] = conv_inputs.reshape(4, 64).tolist()
    conv = collections.OrderedDict(
        W1=rng.normal(0, 0.5, (3, 1, 3, 3)),
        b1=rng.normal(0, 0.1, 3),
        W2=rng.normal(0, 0.5, (27, 5)),
        b2=rng.normal(0, 0.1, 5),
        W3=rng.normal(0, 0.5, (5, 10)),
        b3=rng.normal(0, 0.1, 10),
    )
    expected = conv_predict(conv, conv_inputs.astype(np.float64))
    for protocol, params in [(2, dict(conv)), (4, conv)]:
        name = f"conv_p{protocol}.pkl"
        with open(out / name, "wb") as f:
            pickle.dump(params, f, protocol=protocol)
        cases["conv"][name] = expected.tolist()

    with open(out / "cases.json", "w") as f:
        json.dump(cases, f)


main()
