"""Length-grouped batching: every example once per epoch, similar lengths per batch, and a seed
that changes what the model sees even on a small subset."""

import random

from harness.tasks.batching import length_grouped_batches


def _lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(20, 380) for _ in range(n)]


def test_each_example_once_and_longest_batch_first():
    lengths = _lengths(1000)
    batches = length_grouped_batches(lengths, 8, seed=3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1000))
    assert max(lengths[i] for i in batches[0]) == max(lengths)


def test_seeds_differ_on_a_small_subset():
    # 128 examples in batches of 8 (the scaled-down BELLE comparison): with one mega-batch of
    # 50 x 8 the whole subset was sorted by length, and seeds 1, 2 and 3 gave the same batches
    lengths = _lengths(128)
    runs = [length_grouped_batches(lengths, 8, seed=s) for s in (1, 2, 3)]
    as_sets = [[frozenset(b) for b in r] for r in runs]
    assert as_sets[0] != as_sets[1] and as_sets[1] != as_sets[2] and as_sets[0] != as_sets[2]
    # at least a quarter of the batches differ in their members between two seeds
    assert len(set(as_sets[0]) - set(as_sets[1])) >= len(as_sets[0]) // 4


def test_a_megabatch_holds_at_most_a_quarter_of_the_data():
    lengths = _lengths(128)
    batches = length_grouped_batches(lengths, 8, seed=1)
    # within a mega-batch of 32 the batches come longest first; the next mega-batch starts afresh,
    # so a 128-example subset shows at least 4 runs of non-increasing batch maxima
    widths = [max(lengths[i] for i in b) for b in batches[1:]]
    rises = sum(1 for a, b in zip(widths, widths[1:]) if b > a)
    assert rises >= 2


def test_large_data_keeps_fifty_batches_per_megabatch():
    lengths = _lengths(8 * 50 * 4)  # exactly enough for the default of 50
    a = length_grouped_batches(lengths, 8, seed=5)
    b = length_grouped_batches(lengths, 8, seed=5, megabatch_mult=50)
    assert a == b
