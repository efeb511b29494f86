"""Scoring shortcuts servers use: predictions and probabilities in one call, and a bare float
array instead of a frame where that gives the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidArgumentError
from modelyard.flavors import load_model, save_model


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 5)), columns=[f"x{i}" for i in range(5)])
    y = (X.x0 + X.x1 > 0).astype(int).to_numpy()
    return X, y


@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
@pytest.mark.parametrize("kind", ["hgb", "logreg", "pipeline", "svc"])
def test_matrix_and_frame_give_the_same_answers(tmp_path: Path, kind: str) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = _data()
    estimator = {
        "hgb": lambda: HistGradientBoostingClassifier(max_iter=10),
        "logreg": LogisticRegression,
        "pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
        "svc": lambda: SVC(probability=True, random_state=0),
    }[kind]().fit(X, y)
    save_model(estimator, tmp_path / "m", sample=X.head(20))
    model = load_model(tmp_path / "m")
    frame = model.prepare(X.head(40))
    predictions, proba = model.predict_prepared(frame)
    np.testing.assert_allclose(proba, estimator.predict_proba(X.head(40)))
    np.testing.assert_array_equal(predictions, estimator.predict(X.head(40)))
    if kind == "pipeline":  # a pipeline may select columns by name: frames only
        assert not model.takes_matrix
        with pytest.raises(InvalidArgumentError):
            model.predict_matrix(X.head(2).to_numpy())
        return
    assert model.takes_matrix
    m_predictions, m_proba = model.predict_matrix(X.head(40).to_numpy())
    np.testing.assert_allclose(m_proba, proba)
    np.testing.assert_array_equal(m_predictions, predictions)
    assert hasattr(model.raw, "feature_names_in_")  # the loaded estimator is left as it was
