"""Tidy-table helpers shared by the study runner and the figures."""
import numpy as np
import pandas as pd

__all__ = ["quartiles", "stability", "selections", "reported_selection", "STABILITY_WINDOW"]

#: Epochs at the end of a training over which :func:`stability` measures the spread of validation accuracy.
STABILITY_WINDOW = 50


def quartiles(table, keys, column="accuracy", medians=("n_parameters",)):
    """Median, quartiles and count of ``column`` per group of ``keys`` (groups with missing keys kept).

    Parameters
    ----------
    table : pandas.DataFrame
        One row per measurement, e.g. the test rows of a study's results.
    keys : list of str
        The columns that define a group.
    column : str
        The measured column.
    medians : sequence of str
        Columns in ``keys`` that can differ between the seeds of one condition (the parameter count of a
        randomly connected network): they are not grouped by but reported as their median.

    Returns
    -------
    pandas.DataFrame
        ``keys`` then ``median``, ``q25``, ``q75``, ``count``; one row per group, sorted.

    Examples
    --------
    >>> import pandas as pd
    >>> quartiles(pd.DataFrame(dict(g=["a", "a", "a", "b"], accuracy=[0.1, 0.2, 0.3, 1.0])), ["g"])
       g  median   q25   q75  count
    0  a     0.2  0.15  0.25      3
    1  b     1.0  1.00  1.00      1
    """
    varying = [key for key in keys if key in medians]
    groups = [key for key in keys if key not in varying]
    grouped = table.groupby(groups, dropna=False, sort=True)
    result = grouped[column].agg(median="median", q25=lambda a: a.quantile(0.25), q75=lambda a: a.quantile(0.75),
                                 count="count")
    for key in varying:
        median = grouped[key].median()
        result.insert(0, key, median.astype("Int64") if (median.dropna() % 1 == 0).all() else median)
    return result.reset_index()[list(keys) + ["median", "q25", "q75", "count"]]


def stability(history, window=STABILITY_WINDOW):
    """How calm the end of a training was: the spread of validation accuracy over its last ``window`` epochs.

    Parameters
    ----------
    history : pandas.DataFrame
        A training history (:meth:`Trainer.fit <brian2_delgrad.training.trainer.Trainer.fit>`) with
        ``split == 'validation'`` rows; epoch 0 (the untrained network) never counts.
    window : int
        Number of final epochs.

    Returns
    -------
    dict
        ``validation_std`` (standard deviation, ``ddof=0``), ``validation_range`` (max - min) and
        ``validation_mean`` of the validation accuracy (fractions), ``stability_epochs`` (how many
        epochs they cover: fewer than ``window`` in a shorter training); NaN without validation rows.

    Examples
    --------
    >>> import pandas as pd
    >>> h = pd.DataFrame(dict(epoch=[0, 1, 2, 3], split="validation", accuracy=[0.3, 0.8, 0.9, 0.7]))
    >>> {k: round(v, 3) for k, v in stability(h, window=2).items()}
    {'validation_std': 0.1, 'validation_range': 0.2, 'validation_mean': 0.8, 'stability_epochs': 2}
    """
    validation = history[(history.split == "validation") & (history.epoch > 0)].sort_values("epoch")
    accuracy = validation.accuracy.to_numpy(dtype=float)[-window:]
    if accuracy.size == 0:
        return dict(validation_std=np.nan, validation_range=np.nan, validation_mean=np.nan, stability_epochs=0)
    return dict(validation_std=float(np.std(accuracy)), validation_range=float(np.ptp(accuracy)),
                validation_mean=float(np.mean(accuracy)), stability_epochs=int(accuracy.size))


def selections(results):
    """Which network each row of a study's results tests: ``'last'`` or ``'best'`` (validation) epoch.

    The ``selection`` column; tables written before both networks were tested hold one test per trial,
    the network its recipe kept (``keep_best``: the best, else the last).
    """
    if "selection" in results.columns:
        return results.selection
    keep_best = results["keep_best"] if "keep_best" in results.columns else True
    return pd.Series(reported_selection(keep_best), index=results.index)


def reported_selection(keep_best):
    """The network a recipe reports: ``'best'`` (validation epoch) if it keeps the best, else ``'last'``.

    Parameters
    ----------
    keep_best : bool or array_like of bool

    Returns
    -------
    str or ndarray of str
    """
    choice = np.where(np.asarray(keep_best, dtype=bool), "best", "last")
    return str(choice) if choice.ndim == 0 else choice
