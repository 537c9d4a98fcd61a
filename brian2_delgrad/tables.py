"""Tidy-table helpers shared by the study runner and the figures."""
__all__ = ["quartiles"]


def quartiles(table, keys, column="accuracy"):
    """Median, quartiles and count of ``column`` per group of ``keys`` (groups with missing keys kept).

    Parameters
    ----------
    table : pandas.DataFrame
    keys : list of str
    column : str

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
    grouped = table.groupby(keys, dropna=False, sort=True)[column]
    return grouped.agg(median="median", q25=lambda a: a.quantile(0.25), q75=lambda a: a.quantile(0.75),
                       count="count").reset_index()
