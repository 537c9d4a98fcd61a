"""Placement records: one record per placement, from which shapes, sums, gradient reductions and Brian2 read."""
import numpy as np
import pytest

from brian2_delgrad.core import delays as delays_module
from brian2_delgrad.core.delays import PLACEMENTS, reduce_arrival_gradient, total_delay


@pytest.mark.parametrize("name", list(PLACEMENTS))
def test_reduction_is_the_adjoint_of_the_sum(name):
    """d/dx of sum(g * per_synapse(x)) is reduce(g): the gradient reduction follows from the placement's axes."""
    placement, rng = PLACEMENTS[name], np.random.default_rng(1)
    values, gradient = rng.normal(size=placement.shape(4, 3)), rng.normal(size=(4, 3))
    total = total_delay({name: values}, 4, 3)
    assert total.shape == (4, 3)
    reduced = reduce_arrival_gradient(gradient, (name,))[name]
    assert reduced.shape == values.shape
    assert np.sum(gradient * total) == pytest.approx(np.sum(values * reduced), rel=1e-12)


def test_tied_placements_hold_one_value_per_group():
    groups = np.array([0, 0, 1, 1])
    for name, placement in PLACEMENTS.items():
        shape = delays_module.delay_shape(name, 4, 3, groups)
        assert shape == placement.shape(2 if placement.tied else 4, 3)


def test_the_module_table_says_what_the_records_say():
    """The table of the delays module (what the docs show) lists every record's shape and Brian2 name."""
    rows = {line.split()[0]: line for line in delays_module.__doc__.splitlines()
            if line.split() and line.split()[0] in PLACEMENTS}
    assert set(rows) == set(PLACEMENTS)
    for name, placement in PLACEMENTS.items():
        shape = "(" + ", ".join(dict(pre="n_pre", post="n_post")[a] for a in placement.axes) + \
                ("," if len(placement.axes) == 1 else "") + ")"
        assert f"``{shape}``" in rows[name] and f"``{placement.brian2_name}``" in rows[name]
        assert placement.holder in rows[name]
