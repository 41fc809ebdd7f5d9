"""Houlsby / Pfeiffer adapters through AdapterHub `adapters`. The library needs transformers
4.57, so CI runs this file in a second environment (.ci/run); in the main environment the
methods must fail cleanly as `unsupported`."""

import pytest

from harness.errors import UnsupportedError
from harness.run import count_only, run_cell
from tests.conftest import make_cfg


def adapters_usable() -> bool:
    try:
        import adapters
    except Exception:  # absent, or failing against transformers 5
        return False
    return hasattr(adapters, "init")


def bottleneck(h: int, rf: int) -> int:
    b = h // rf
    return h * b + b + b * h + h  # down (weight, bias) + up (weight, bias)


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
@pytest.mark.parametrize("method, per_layer", [("houlsby", 2), ("pfeiffer", 1)])
def test_bottleneck_counts_deberta_v3_base(method, per_layer):
    row = {}
    count_only(make_cfg("mode=count", "model=deberta_v3_base", f"method={method}", "method.reduction_factor=16"), row)
    assert row["params_added"] == 12 * per_layer * bottleneck(768, 16)


@pytest.mark.skipif(not adapters_usable(), reason="needs the [adapters] environment (transformers 4.57)")
def test_pfeiffer_trains_adapter_and_head_on_minilm():
    row = {}
    count_only(make_cfg("mode=count", "method=pfeiffer", "method.reduction_factor=16"), row)
    assert row["params_added"] == 6 * bottleneck(384, 16)
    assert row["params_trainable"] == row["params_added"] + row["params_head"]


@pytest.mark.skipif(adapters_usable(), reason="checks the environment without the adapters library")
def test_without_the_library_the_run_is_unsupported_not_a_crash():
    with pytest.raises(UnsupportedError, match=r'pip install -e ".\[adapters\]"'):
        count_only(make_cfg("mode=count", "method=houlsby"), {})
    row = run_cell(make_cfg("mode=count", "method=pfeiffer"), {"run_id": "x", "config_hash": "h"})
    assert row["status"] == "unsupported"
