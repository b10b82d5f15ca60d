"""mmkit.model.codes.check_codes: the one check that the kernels' index constants follow
the tables that name them (EV_* events, SM_* samples, VM_* counters; the F_* rules are made
from the rule fields, mmkit.semantics.variant)."""

import pytest

from mmkit.model.codes import check_codes


def test_constants_in_table_order_pass():
    check_codes({"EV_A": 0, "EV_B": 1, "other": 5}, "EV_", ("a", "b"), "m", "the rows")


@pytest.mark.parametrize("namespace, words", [
    ({"EV_A": 0}, ["m: the EV_* constants must be the rows in order", "add or fix: ['EV_B = 1']", "remove: []"]),
    ({"EV_A": 0, "EV_B": 2}, ["add or fix: ['EV_B = 1']"]),
    ({"EV_A": 0, "EV_B": 1, "EV_C": 2}, ["add or fix: []", "remove: ['EV_C']"]),
])
def test_a_missing_misplaced_or_extra_constant_fails_the_import_naming_it(namespace, words):
    with pytest.raises(ImportError) as e:
        check_codes(namespace, "EV_", ("a", "b"), "m", "the rows")
    for w in words:
        assert w in str(e.value)
