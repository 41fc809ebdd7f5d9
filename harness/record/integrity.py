"""Rows that must not be read at face value: one config with several `ok` rows.

A config hash with two `ok` rows is not two seeds: the seed is part of the hash. It comes from
a cell run twice (a rerun with `force=true`, or two sweeps racing on one results folder from
hosts that cannot see each other's claims). Reports and the regression gate say so and use the
newest row of each such config, instead of averaging the copies as if they were repeats.
"""

from __future__ import annotations

import pandas as pd


def duplicated_ok_configs(df: pd.DataFrame) -> dict[str, int]:
    """config hash -> number of ok rows, for every hash with more than one."""
    if df.empty or "config_hash" not in df:
        return {}
    ok = df[(df["status"] == "ok") & df["config_hash"].notna()]
    counts = ok["config_hash"].value_counts()
    return {str(h): int(n) for h, n in counts[counts > 1].items()}


def newest_ok_per_config(df: pd.DataFrame) -> pd.DataFrame:
    """The rows with each duplicated config's older ok rows left out (other rows untouched)."""
    dup = duplicated_ok_configs(df)
    if not dup:
        return df
    ok_dup = df[(df["status"] == "ok") & df["config_hash"].isin(list(dup))]
    keep = ok_dup.sort_values("timestamp_utc").groupby("config_hash").tail(1).index
    return df.drop(ok_dup.index.difference(keep))


def describe(dup: dict[str, int], limit: int = 5) -> str:
    shown = ", ".join(f"{h} ({n} rows)" for h, n in list(dup.items())[:limit])
    more = f" and {len(dup) - limit} more" if len(dup) > limit else ""
    return (f"{len(dup)} config(s) have more than one ok row: {shown}{more}. These are duplicates of one run, "
            f"not seeds; only the newest row of each is used.")
