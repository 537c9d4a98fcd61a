"""Baseline of the digits study: logistic regression on exactly the split the spiking networks use.

Run: ``python3 benchmarks/digits_baseline.py``. Prints the test accuracy of scikit-learn's
``LogisticRegression`` (pixels / 16, the fixed stratified 60/20/20 split of ``load_dataset("digits")``),
its regularisation chosen on the validation split.
"""
import numpy as np
from sklearn.linear_model import LogisticRegression

from brian2_delgrad.datasets import load_dataset


def main():
    digits = load_dataset("digits")
    (train, y_train), (validation, y_validation), (test, y_test) = (digits.load(s) for s in
                                                                    ("train", "validation", "test"))
    scores = {}
    for c in (0.01, 0.1, 1.0, 10.0, 100.0):
        model = LogisticRegression(C=c, max_iter=5000).fit(train, y_train)
        scores[c] = model.score(validation, y_validation)
    best = max(scores, key=scores.get)
    model = LogisticRegression(C=best, max_iter=5000).fit(train, y_train)
    print("validation accuracy by C: " + ", ".join(f"{c:g}: {s:.3f}" for c, s in scores.items()))
    print(f"logistic regression (C = {best:g}, {model.coef_.size + model.intercept_.size} parameters): "
          f"test accuracy {model.score(test, y_test):.3f} on {len(y_test)} samples")
    return float(np.mean(model.predict(test) == y_test))


if __name__ == "__main__":
    main()
