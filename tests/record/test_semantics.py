"""Rows an older harness wrote, whose numbers meant something else (bf16 runs with an fp32
frozen base, Freeze 'unsupported' under int8/int4), are recognisable and never mixed with
today's: reports leave them out and say so, the regression gate refuses a stale baseline, and a
sweep reruns a cell whose only ok row is stale."""

import pandas as pd
import pyarrow.parquet as pq

from harness.launch import has_ok_row
from harness.record.schema import SEMANTICS_VERSION
from harness.record.store import current_semantics, load_results, write_frame, write_row
from harness.regress.__main__ import main as regress_main


def row(run_id, **extra):
    return {"run_id": run_id, "config_hash": "h", "status": "ok", "mode": "train", "model": "m", "method": "lora",
            "method_args": "{}", "task": "instruct/alpaca_belle", "precision": "bf16", "batch_size": 8, "seed": 1,
            "max_seq_length": 256, "params_trainable": 10, "device": "cpu", "device_name": "CPU", **extra}


def write_old(path, run_id, schema_version=2, **extra):
    """A row as a schema-2 harness wrote it: no semantics_version column at all."""
    out = write_frame(pd.DataFrame([row(run_id, **extra)]), path)
    table = pq.read_table(out).to_pandas().drop(columns=["semantics_version"])
    table["schema_version"] = schema_version
    table.to_parquet(out)
    return out


def test_new_rows_carry_todays_semantics_and_old_rows_are_read_as_older(tmp_path):
    write_row(row("new"), tmp_path)
    write_old(tmp_path / "runs" / "old.parquet", "old")
    rows = load_results(tmp_path).set_index("run_id")["semantics_version"]
    assert rows.to_dict() == {"new": SEMANTICS_VERSION, "old": 1}
    current, stale = current_semantics(load_results(tmp_path))
    assert list(current["run_id"]) == ["new"] and list(stale["run_id"]) == ["old"]


def test_a_stale_ok_row_does_not_count_as_done(tmp_path):
    write_old(tmp_path / "runs" / "old.parquet", "old")
    assert not has_ok_row(tmp_path, "h")
    write_row(row("new"), tmp_path)
    assert has_ok_row(tmp_path, "h")


def test_reports_leave_stale_rows_out_and_say_so(tmp_path):
    from harness.report.__main__ import write_reports

    write_old(tmp_path / "results" / "runs" / "old.parquet", "old", status="unsupported", method="freeze",
              precision="int8", error="UnsupportedError: quantised")
    write_reports(tmp_path / "results", tmp_path / "out", ["memory_speed"])
    md = (tmp_path / "out" / "memory_speed.md").read_text()
    assert "unsupported" not in md
    assert "1 row(s) of" in md and "written by an older harness" in md


def test_the_regression_gate_fails_on_a_stale_baseline(tmp_path, capsys):
    baseline = write_old(tmp_path / "baseline.parquet", "old")
    write_row(row("new"), tmp_path / "current")
    assert regress_main(["--baseline", str(baseline), "--current", str(tmp_path / "current")]) == 1
    out = capsys.readouterr().out
    assert "baseline row(s) written by an older harness" in out and "re-record the baseline" in out
