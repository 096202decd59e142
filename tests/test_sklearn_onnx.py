"""scikit-learn models converted by skl2onnx, as users bring them: scalers, linear models,
linear SVMs and MLPs (classifiers with ZipMap, binary and multi-class, and regressors) import and
equal ONNX Runtime, eager and compiled; a tree ensemble is refused with the reason."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

from onnx_models import run_ort, run_ours
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
from sklearn.svm import LinearSVC

from mlxa.errors import UnsupportedOpError
from mlxa.frontends.onnx_import import load_onnx


def iris():
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


def diabetes():
    x, y = load_diabetes(return_X_y=True)
    return x.astype(np.float32), y


def converted(model, data, target):
    from skl2onnx import to_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data, target)
        onx = to_onnx(model, data[:6], target_opset=17)
    onx.ir_version = min(onx.ir_version, 10)
    return onx


CASES = {
    "scaler-logistic": lambda: (make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
                                *iris()),
    "logistic-binary": lambda: (LogisticRegression(), iris()[0], iris()[1] > 0),
    "minmax-mlp": lambda: (make_pipeline(MinMaxScaler(), MLPClassifier(
        hidden_layer_sizes=(16,), max_iter=300, random_state=0)), *iris()),
    "mlp-binary": lambda: (MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
                           iris()[0], iris()[1] > 0),
    "linear-svc": lambda: (LinearSVC(), *iris()),
    "linear-regression": lambda: (LinearRegression(), *diabetes()),
    "normalizer-ridge": lambda: (make_pipeline(Normalizer(), Ridge()), *diabetes()),
    "mlp-regressor": lambda: (MLPRegressor(hidden_layer_sizes=(16,), max_iter=200,
                                           random_state=0), *diabetes()),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_converted_model_matches_onnxruntime(name: str) -> None:
    model, data, target = CASES[name]()
    onx = converted(model, data, target)
    feeds = {onx.graph.input[0].name: data[:6]}
    want = run_ort(onx, feeds)
    eager, compiled = run_ours(onx, feeds)
    for w, e, c in zip(want, eager, compiled):
        if isinstance(w, list):  # ZipMap's sequence of maps: mlxa keeps its tensor
            w = np.array([[row[k] for k in sorted(row)] for row in w], np.float32)
        np.testing.assert_allclose(e, w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-6)


def test_a_random_forest_is_refused_with_the_reason() -> None:
    data, target = iris()
    onx = converted(RandomForestClassifier(3, max_depth=3, random_state=0), data, target)
    with pytest.raises(UnsupportedOpError, match="TreeEnsembleClassifier.*Tree ensembles are"):
        load_onnx(onx)
