#!/usr/bin/env python3
"""scikit-learn's SVC() on MNIST, the yardstick of `nn-cli baseline svm`.

    python3 scripts/sklearn_svc.py [--train-size N] [--data DIR] [--gamma scale|auto|G]

Reads the four IDX files of DIR (raw or .gz, as `cargo xtask fetch-data` leaves them in
data/mnist), scales pixels to 0..1 as nn-cli does, fits SVC() with its defaults (RBF kernel,
C = 1, gamma = 'scale', one-vs-one) on the first N training images and prints its test
accuracy in nn-cli's words. Needs numpy and scikit-learn (`pip install numpy scikit-learn`).
"""

import argparse
import gzip
import os
import sys

import numpy as np
from sklearn.svm import SVC


def read_idx(directory, name):
    """The array of IDX file NAME in DIRECTORY, gzip-compressed or raw."""
    for path, opener in ((os.path.join(directory, name + ".gz"), gzip.open), (os.path.join(directory, name), open)):
        if os.path.exists(path):
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    sys.exit(f"error: {name} (or {name}.gz) is missing from {directory}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=None, help="the first N training images (default: all)")
    parser.add_argument("--data", default="data/mnist", help="directory of the four IDX files")
    parser.add_argument("--gamma", default="scale", help="scale (the default), auto (before 0.22) or a number")
    args = parser.parse_args()

    train_x = read_idx(args.data, "train-images-idx3-ubyte")
    train_y = read_idx(args.data, "train-labels-idx1-ubyte")
    test_x = read_idx(args.data, "t10k-images-idx3-ubyte")
    test_y = read_idx(args.data, "t10k-labels-idx1-ubyte")
    n = len(train_x) if args.train_size is None else args.train_size
    if not 0 < n <= len(train_x):
        sys.exit(f"error: --train-size {n} is not between 1 and {len(train_x)}")
    x = train_x[:n].reshape(n, -1).astype(np.float32) / 255.0
    y = train_y[:n]
    t = test_x.reshape(len(test_x), -1).astype(np.float32) / 255.0

    gamma = args.gamma if args.gamma in ("scale", "auto") else float(args.gamma)
    svc = SVC(gamma=gamma)
    svc.fit(x, y)
    right = int((svc.predict(t) == test_y).sum())
    print(
        f"scikit-learn {__import__('sklearn').__version__} SVC() on {n} images: "
        f"gamma {svc._gamma:.6f}, {svc.n_support_.sum()} support vectors"
    )
    print(f"svm: {right} / {len(test_y)} test images right, {100 * right / len(test_y):.2f}%")


if __name__ == "__main__":
    main()
