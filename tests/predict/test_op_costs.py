"""The per-op cost table (harness/predict/op_costs.py) on real tensors."""

import torch

from harness.predict.op_costs import CLASSES, KINDS, OpCosts


def test_an_in_place_op_counts_the_bytes_it_reads_and_writes():
    x = torch.empty(1024)
    with OpCosts() as costs:
        x.bernoulli_(0.9)
    table = costs.table()
    assert len(table) == 1 and KINDS[table.kind[0]] == "random"
    assert table.bytes[0] == 2 * 4 * 1024  # read and written: what the CPU profile's random rate is per byte of


def test_a_multi_pass_kernel_is_costed_as_its_passes_with_the_kernels_result():
    """The attention math path's _safe_softmax runs softmax, a -inf test, a row reduction and a
    select: four passes over the scores, not one."""
    scores = torch.randn(2, 4, 16, 16)
    scores[0, 0, 3] = float("-inf")  # a fully masked row: zeros, not NaN
    expected = torch.ops.aten._safe_softmax(scores, -1)
    with OpCosts() as costs:
        got = torch.ops.aten._safe_softmax(scores, -1)
    torch.testing.assert_close(got, expected, equal_nan=False)
    assert torch.all(got[0, 0, 3] == 0)
    table = costs.table()
    passes = [CLASSES[c] for c in table.cls if CLASSES[c] != "view"]
    assert len(passes) >= 4, passes
    assert table.bytes.sum() > 3 * scores.numel() * 4 * 2  # several reads and writes of the scores
