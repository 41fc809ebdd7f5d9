"""Result files: schema, atomic per-run files, a loader that survives bad files."""

import logging

import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.record.schema import ARROW_SCHEMA, NAMES, SCHEMA_VERSION, markdown_table
from harness.record.store import load_results, read_table, result_files, write_frame, write_row


def row(run_id="r1", **extra):
    return {"run_id": run_id, "config_hash": "h", "status": "ok", "method": "lora", "params_total": 10, **extra}


def test_units_are_in_column_names():
    for name in NAMES:
        if "mem" in name and "source" not in name:
            assert name.endswith("_bytes"), name
        if name.endswith("wall") or "latency" in name and "ratio" not in name:
            assert name.endswith(("_s", "_ms")), name
    assert "| `peak_gpu_mem_reserved_bytes` |" in markdown_table()


def test_write_row_is_one_file_named_by_run_id(tmp_path):
    path = write_row(row(), tmp_path)
    assert path == tmp_path / "runs" / "r1.parquet"
    table = pq.read_table(path)
    assert table.schema.equals(ARROW_SCHEMA, check_metadata=False)
    assert table.column("schema_version").to_pylist() == [SCHEMA_VERSION]
    assert not [p for p in (tmp_path / "runs").iterdir() if p.name.startswith(".tmp-")]


def test_unknown_column_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not in the schema"):
        write_row(row(bogus=1), tmp_path)


def test_loader_returns_all_rows(tmp_path):
    for i in range(3):
        write_row(row(f"r{i}", params_total=i), tmp_path)
    df = load_results(tmp_path)
    assert sorted(df["run_id"]) == ["r0", "r1", "r2"] and list(df.columns) == NAMES


def test_truncated_file_is_skipped_and_named(tmp_path, caplog):
    write_row(row("good"), tmp_path)
    bad = write_row(row("bad"), tmp_path)
    bad.write_bytes(bad.read_bytes()[:40])
    with caplog.at_level(logging.WARNING):
        df = load_results(tmp_path)
    assert df["run_id"].tolist() == ["good"]
    assert "bad.parquet" in caplog.text


def test_temporary_files_are_never_read(tmp_path):
    write_row(row("good"), tmp_path)
    (tmp_path / "runs" / ".tmp-123.parquet").write_bytes(b"partial")
    assert [p.name for p in result_files(tmp_path)] == ["good.parquet"]


def test_older_schema_version_reads_with_its_missing_columns_null(tmp_path):
    path = write_frame(pd.DataFrame([row()]), tmp_path / "old.parquet")
    df = pq.read_table(path).to_pandas()
    df["schema_version"] = SCHEMA_VERSION - 1
    df.drop(columns=["distributed"]).to_parquet(path)
    back = read_table(path)
    assert list(back.columns) == NAMES
    assert back["distributed"].isna().all() and back["run_id"].tolist() == df["run_id"].tolist()


def test_newer_schema_version_is_refused_naming_the_file(tmp_path):
    path = write_frame(pd.DataFrame([row()]), tmp_path / "new.parquet")
    df = pq.read_table(path).to_pandas()
    df["schema_version"] = SCHEMA_VERSION + 1
    df.to_parquet(path)
    with pytest.raises(ValueError, match=rf"new.parquet: schema version {SCHEMA_VERSION + 1} is newer"):
        read_table(path)


def test_not_parquet_is_one_line(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_text("hello")
    with pytest.raises(ValueError, match="x.parquet: not a readable Parquet file") as err:
        read_table(path)
    assert "\n" not in str(err.value)


def test_loading_only_some_columns_reads_those_plus_run_id_and_status(tmp_path):
    write_row(row("a", distributed="fsdp"), tmp_path)
    old = write_frame(pd.DataFrame([row("b")]), tmp_path / "runs" / "b.parquet")
    df = pq.read_table(old).to_pandas()
    df["schema_version"] = SCHEMA_VERSION - 1
    df.drop(columns=["distributed"]).to_parquet(old)  # an older row lacks the column
    rows = load_results(tmp_path, columns=["config_hash", "distributed"])
    # schema order; what a row means (semantics_version) is always read with its identity and status
    assert list(rows.columns) == ["semantics_version", "run_id", "config_hash", "status", "distributed"]
    assert rows.set_index("run_id")["distributed"].to_dict() == {"a": "fsdp", "b": None}
    assert list(load_results(tmp_path / "empty", columns=["config_hash"]).columns) == \
        ["semantics_version", "run_id", "config_hash", "status"]
