"""Baselines of a data set's study: logistic regression and a multilayer perceptron on exactly the split the spiking
networks use.

Run: ``python3 benchmarks/baselines.py digits`` (or ``fashion_mnist``, any name or file ``load_dataset`` takes).
Prints the test accuracy of scikit-learn's ``LogisticRegression`` and ``MLPClassifier`` (features in [0, 1] as
``load_dataset`` gives them: pixels / 16 for digits, / 255 for Fashion-MNIST), each with its regularisation (and
the perceptron's hidden size) chosen on the validation split, then refitted on the train split alone.
"""
import argparse
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from brian2_delgrad.datasets import load_dataset

#: The candidates, chosen on validation: logistic regression's C, the perceptron's (hidden size, alpha).
LOGISTIC = (0.01, 0.1, 1.0, 10.0)
PERCEPTRON = ((100, 1e-4), (100, 1e-2), (350, 1e-4), (350, 1e-2))


def _best(make, candidates, train, validation):
    """The candidate whose model scores best on validation, with every candidate's validation accuracy."""
    scores = {}
    for candidate in candidates:
        scores[candidate] = make(candidate).fit(*train).score(*validation)
    return max(scores, key=scores.get), scores


def _parameters(model):
    arrays = model.coefs_ + model.intercepts_ if hasattr(model, "coefs_") else [model.coef_, model.intercept_]
    return sum(a.size for a in arrays)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="a data set name (digits, fashion_mnist, ...) or file")
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset)
    train, validation, test = (data.load(split) for split in ("train", "validation", "test"))
    makers = {
        "logistic regression": (lambda c: LogisticRegression(C=c, max_iter=2000), LOGISTIC),
        "multilayer perceptron": (lambda hidden_alpha: MLPClassifier(hidden_layer_sizes=(hidden_alpha[0],),
                                                                     alpha=hidden_alpha[1], max_iter=200,
                                                                     early_stopping=True, random_state=0),
                                  PERCEPTRON),
    }
    print(f"{args.dataset}: {len(train[1])} / {len(validation[1])} / {len(test[1])} samples, {data.n_features} "
          f"features, {data.n_classes} classes")
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, (make, candidates) in makers.items():
            start = time.perf_counter()
            best, scores = _best(make, candidates, train, validation)
            model = make(best).fit(*train)
            results[name] = float(np.mean(model.predict(test[0]) == test[1]))
            print(f"{name} ({best}, {_parameters(model)} parameters): test accuracy {results[name]:.4f}; "
                  f"validation by candidate: {', '.join(f'{c}: {s:.4f}' for c, s in scores.items())} "
                  f"({time.perf_counter() - start:.0f} s)")
    return results


if __name__ == "__main__":
    main()
