"""Writes data/digits.npz (images uint8 [1797, 8, 8] with values 0..16, labels uint8
[1797]) from the copy of the UCI optical-digits test set that scikit-learn ships
(sklearn/datasets/data/digits.csv.gz). Run once where scikit-learn's wheel is available:

    pip download scikit-learn --no-deps --only-binary :all: -d /tmp/sk
    python3 scripts/bundle_digits.py /tmp/sk/scikit_learn-*.whl
"""
import gzip
import io
import os
import sys
import zipfile

import numpy as np

wheel = sys.argv[1]
with zipfile.ZipFile(wheel) as z:
    raw = gzip.decompress(z.read("sklearn/datasets/data/digits.csv.gz"))
table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.uint8)
images, labels = table[:, :64].reshape(-1, 8, 8), table[:, 64]
out = os.path.join(os.path.dirname(__file__), "..", "data", "digits.npz")
np.savez_compressed(out, images=images, labels=labels)
print(f"{out}: {images.shape[0]} images, label counts {np.bincount(labels).tolist()}")
