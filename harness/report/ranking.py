"""How far two rankings of methods agree: Kendall's tau between the published order and ours,
with an interval over seeds (our scores resampled per method), each method's gap to full
fine-tuning, and how far apart the methods are against the dev set's own sampling error."""

from __future__ import annotations

import math
import random
import statistics


def kendall_tau(a: dict[str, float], b: dict[str, float]) -> float | None:
    """Kendall's tau-b between two score maps over the methods they share (ties counted as
    neither concordant nor discordant); None for fewer than two shared methods."""
    from scipy.stats import kendalltau

    shared = sorted(set(a) & set(b))
    if len(shared) < 2:
        return None
    tau = kendalltau([a[m] for m in shared], [b[m] for m in shared]).statistic
    return None if tau != tau else float(tau)  # NaN when one side is constant


def tau_interval(published: dict[str, float], seeds: dict[str, list[float]], draws: int = 2000,
                 level: float = 0.95, rng_seed: int = 0) -> tuple[float | None, float | None, float | None]:
    """(tau of the seed means, lower, upper): the interval is the percentile bootstrap over our
    seeds, each method's seeds resampled with replacement."""
    means = {m: statistics.fmean(v) for m, v in seeds.items() if v}
    point = kendall_tau(published, means)
    if point is None:
        return None, None, None
    rng = random.Random(rng_seed)
    taus = []
    for _ in range(draws):
        sample = {m: statistics.fmean(rng.choices(v, k=len(v))) for m, v in seeds.items() if v}
        tau = kendall_tau(published, sample)
        if tau is not None:
            taus.append(tau)
    taus.sort()
    lo = taus[int((1 - level) / 2 * (len(taus) - 1))]
    hi = taus[int((1 + level) / 2 * (len(taus) - 1))]
    return point, lo, hi


def gaps_to_full(scores: dict[str, float], full: str = "full_ft") -> dict[str, float]:
    """Each method's score minus full fine-tuning's (negative: below it)."""
    if full not in scores:
        return {}
    return {m: s - scores[full] for m, s in scores.items() if m != full}


def spread(scores: dict[str, float]) -> float | None:
    """Best minus worst method (None for fewer than two)."""
    return max(scores.values()) - min(scores.values()) if len(scores) > 1 else None


def dev_set_se(metric: str, value: float, n: int) -> float | None:
    """The sampling standard error of one score on a dev set of n examples, in the score's units:
    accuracy sqrt(p (1 - p) / n), a correlation (1 - r^2) / sqrt(n - 1) (Fisher's large-sample
    formula); None for other metrics. Methods whose scores differ by about this much are not told
    apart by the dev set, however many seeds ran."""
    if n is None or n < 2:
        return None
    if metric.startswith("metric_accuracy"):
        return math.sqrt(max(value * (1 - value), 0.0) / n)
    if metric in ("metric_pearson", "metric_spearman"):
        return (1 - value * value) / math.sqrt(n - 1)
    return None
