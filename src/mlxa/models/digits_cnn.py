"""A small CNN trained on scikit-learn's handwritten digits (8x8 grey images, 10 classes), the
zoo's one model with trained weights, so that quantization can be judged by top-1 accuracy on a
real task, not only by agreement with FP32:

    conv1 3x3 (1 -> 16) relu, max_pool 2, conv2 3x3 (16 -> 32) relu, flatten, fc (512 -> 10)

Weights ship as digits_cnn.npz beside this file, made by scripts/train_digits_cnn.py
(deterministic: fixed seeds, one thread). The split is the script's: `digits_split()` returns the
held-out images and labels (needs scikit-learn, imported only there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlxa.ir.builder import GraphBuilder
from mlxa.ir.graph import Graph

WEIGHTS = Path(__file__).with_name("digits_cnn.npz")
TEST_FRACTION = 0.25
SPLIT_SEED = 0
PIXEL_MAX = 16.0  # load_digits' grey levels are 0..16


def load_weights(path: Path = WEIGHTS) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: np.asarray(data[k], np.float32) for k in data.files}


def digits_cnn(batch: int = 1, seed: int = 0) -> Graph:
    """The trained network (`seed` is accepted for the zoo's signature; weights are fixed)."""
    w = load_weights()
    b = GraphBuilder("digits_cnn")
    x = b.input((batch, 1, 8, 8))
    window = {"strides": (1, 1), "pads": (1, 1, 1, 1), "dilations": (1, 1), "group": 1}
    y = b.op("conv", x, b.param(w["conv1.weight"]), b.param(w["conv1.bias"]), name="conv1",
             **window)
    y = b.op("relu", y)
    y = b.op("max_pool", y, name="pool", kernel_shape=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0),
             dilations=(1, 1), ceil_mode=0)
    y = b.op("conv", y, b.param(w["conv2.weight"]), b.param(w["conv2.bias"]), name="conv2",
             **window)
    y = b.op("flatten", b.op("relu", y), axis=1)
    y = b.op("gemm", y, b.param(w["fc.weight"]), b.param(w["fc.bias"]), name="fc", transB=1)
    return b.build(y)


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images, train labels, test images, test labels): images f32 [N, 1, 8, 8] in
    [0, 1], the held-out quarter stratified by label with a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / PIXEL_MAX).astype(np.float32)[:, None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=digits.target)
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)
