"""Parquet result files: one file per run, written atomically; one loader for all rows.

Many processes (or machines on a shared filesystem) may write into one results folder at
once: every run writes `<results_dir>/runs/<run_id>.parquet` through a temporary file and
an atomic rename, so a reader never sees a partial file and nothing needs a lock.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.record.schema import ARROW_SCHEMA, NAMES, SCHEMA_VERSION, SEMANTICS_VERSION, semantics_of_schema

log = logging.getLogger(__name__)

RUNS_SUBDIR = "runs"


def write_row(row: dict, results_dir: str | os.PathLike) -> Path:
    """Write one run's row as its own Parquet file; returns the final path."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(row.get("run_id", ""))):
        raise ValueError(f"run_id {row.get('run_id')!r}: expected letters, digits, '_', '-' or '.'")
    unknown = set(row) - set(NAMES)
    if unknown:
        raise ValueError(f"row has columns not in the schema: {sorted(unknown)}")
    full = {name: [row.get(name)] for name in NAMES}
    full["schema_version"] = [SCHEMA_VERSION]
    full["semantics_version"] = [SEMANTICS_VERSION]
    table = pa.Table.from_pydict(full, schema=ARROW_SCHEMA)
    out_dir = Path(results_dir) / RUNS_SUBDIR
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"results_dir {out_dir}: cannot create folder ({exc.strerror})") from exc
    final = out_dir / f"{row['run_id']}.parquet"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


# columns every partial read keeps: a row's identity, outcome and meaning
ALWAYS_READ = ("run_id", "status", "semantics_version")


def result_files(results_dir: str | os.PathLike) -> list[Path]:
    """All finished result files under results_dir (temporary files excluded)."""
    root = Path(results_dir)
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith(".tmp-")
                  and "baselines" not in p.relative_to(root).parts)  # baselines are read by regress only


def load_results(results_dir: str | os.PathLike = "results", columns: list[str] | None = None,
                 memo: dict | None = None) -> pd.DataFrame:
    """Every row under results_dir as one DataFrame with the current schema's columns (or only
    `columns`, plus run_id and status: much less to read for large sweeps).

    A file that cannot be read (truncated, not Parquet) is skipped with a warning naming it;
    it never hides the other rows. `memo` (path -> (mtime, size), frame), kept by a caller that
    reads the folder again and again with the same `columns`, spares re-reading unchanged files.
    """
    frames = []
    for path in result_files(results_dir):
        stat = path.stat()
        stamp = (stat.st_mtime, stat.st_size)
        if memo is not None and path in memo and memo[path][0] == stamp:
            frames.append(memo[path][1])
            continue
        try:
            frame = read_table(path, columns)
        except ValueError as exc:
            log.warning("skipping %s", exc)
            continue
        frames.append(frame)
        if memo is not None:
            memo[path] = (stamp, frame)
    if not frames:
        return conform(empty_frame(), columns)
    rows = pd.concat(frames, ignore_index=True)
    return rows.drop_duplicates("run_id", keep="first", ignore_index=True)  # a compaction cut short


def read_table(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one Parquet file of rows, conformed to the current schema (all of its columns, or
    only `columns` plus run_id and status).

    Raises ValueError with a one-line message naming the file on any problem.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    required = ["run_id", "status", "schema_version"]
    try:
        with pq.ParquetFile(path) as parquet:
            present = parquet.schema_arrow.names
            wanted = None if columns is None else \
                [c for c in dict.fromkeys([*required, *ALWAYS_READ, *columns]) if c in present]
            table = parquet.read(columns=wanted)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    missing = [n for n in required if n not in table.column_names]
    if missing:
        raise ValueError(f"{path}: not a peft-bench result file (missing columns {missing})")
    df = table.to_pandas()
    versions = set(df["schema_version"].dropna().astype(int))
    if any(v > SCHEMA_VERSION for v in versions):
        raise ValueError(f"{path}: schema version {max(versions)} is newer than this harness's "
                         f"{SCHEMA_VERSION}; upgrade peft-bench to read it")
    inferred = df["schema_version"].map(lambda v: semantics_of_schema(int(v)) if pd.notna(v) else None)
    df["semantics_version"] = df["semantics_version"].fillna(inferred) if "semantics_version" in df else inferred
    return conform(df, columns)


def current_semantics(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows whose numbers mean what today's harness means, rows an older harness wrote).
    Rows read from files always carry their semantics; rows composed in memory without one are
    this harness's own."""
    current = df["semantics_version"].fillna(SEMANTICS_VERSION) == SEMANTICS_VERSION
    return df[current], df[~current]


def conform(df: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Add absent schema columns as nulls and order columns as the schema does (all of them,
    or run_id, status and `columns`)."""
    names = NAMES if columns is None else [n for n in NAMES if n in {*ALWAYS_READ, *columns}]
    missing = [name for name in names if name not in df.columns]
    if missing:
        df = pd.concat([df, pd.DataFrame({name: None for name in missing}, index=df.index)], axis=1)
    return df[names]


def empty_frame() -> pd.DataFrame:
    return ARROW_SCHEMA.empty_table().to_pandas()


def write_frame(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a DataFrame of rows (e.g. a baseline) to one Parquet file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = conform(df.copy())
    # rows this harness composed itself (not read from a file) are of its own schema and semantics
    df["schema_version"] = df["schema_version"].fillna(SCHEMA_VERSION)
    df["semantics_version"] = df["semantics_version"].fillna(SEMANTICS_VERSION)
    table = pa.Table.from_pandas(df, schema=ARROW_SCHEMA, preserve_index=False)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pq.write_table(table, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
