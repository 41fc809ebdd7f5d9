"""The regression gate: injected regressions fail with exit 1 and are named; improvements
pass; missing rows are reported; bad baselines exit 2 with one line; --update refuses non-ok."""

import json

import pandas as pd
import pytest

from harness.record.store import conform, write_frame
from harness.regress.__main__ import main
from harness.regress.compare import compare
from harness.regress.rules import Rule, load_rules
from harness.regress.__main__ import DEFAULT_RULES


def rows(changes: dict | None = None) -> pd.DataFrame:
    base = []
    for method in ["lora", "full_ft"]:
        base.append({"run_id": f"id-{method}", "mode": "train", "status": "ok", "model": "minilm_l6", "method": method,
                     "method_args": "{}", "task": "glue/sst2", "precision": "fp32", "batch_size": 16, "seed": 42,
                     "max_seq_length": 128, "params_total": 22_713_986, "params_trainable": 1000, "score": 0.80,
                     "metric_accuracy": 0.80, "peak_cpu_rss_bytes": 1_000_000_000, "train_examples_per_s": 100.0,
                     "device_name": "CPU A"})
    df = pd.DataFrame(base)
    for (method, column), value in (changes or {}).items():
        df.loc[df["method"] == method, column] = value
    return conform(df)


@pytest.fixture()
def baseline(tmp_path):
    return write_frame(rows(), tmp_path / "baselines" / "smoke.parquet")


def run(tmp_path, baseline, current: pd.DataFrame, *extra, capsys=None):
    path = write_frame(current, tmp_path / "current.parquet")
    return main(["--baseline", str(baseline), "--current", str(path), *extra])


@pytest.mark.parametrize("change, column", [
    ({("lora", "score"): 0.78, ("lora", "metric_accuracy"): 0.78}, "score"),     # 2 points drop
    ({("lora", "peak_cpu_rss_bytes"): 1_300_000_000}, "peak_cpu_rss_bytes"),    # +30 % memory
    ({("lora", "train_examples_per_s"): 50.0}, "train_examples_per_s"),         # half the speed
    ({("lora", "params_trainable"): 1001}, "params_trainable"),                 # counts are exact
])
def test_injected_regression_fails_and_is_named(tmp_path, baseline, capsys, change, column):
    assert run(tmp_path, baseline, rows(change)) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    section = out.split("## Regressions")[1].split("## Improvements")[0]
    assert f"| {column} |" in section and "lora" in section


def test_improvement_passes(tmp_path, baseline, capsys):
    better = rows({("lora", "score"): 0.85, ("lora", "train_examples_per_s"): 200.0,
                     ("lora", "peak_cpu_rss_bytes"): 500_000_000})
    assert run(tmp_path, baseline, better) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and out.count("| improvement |") >= 3 * 2  # listed in its section and in all cells


def test_change_within_tolerance_passes(tmp_path, baseline):
    assert run(tmp_path, baseline, rows({("lora", "score"): 0.798, ("lora", "train_examples_per_s"): 90.0})) == 0


def test_missing_and_new_rows_are_reported(tmp_path, baseline, capsys):
    current = rows()
    current = current[current["method"] == "lora"].copy()
    extra = current.copy()
    extra["method"], extra["run_id"] = "ia3", "id-ia3"
    assert run(tmp_path, baseline, pd.concat([current, extra]), "--format", "json") == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["missing"]) == 1 and "full_ft" in report["missing"][0]
    assert len(report["new"]) == 1 and "ia3" in report["new"][0]
    assert run(tmp_path, baseline, current, "--fail-on-missing") == 1


def test_failed_current_run_is_a_regression(tmp_path, baseline, capsys):
    assert run(tmp_path, baseline, rows({("lora", "status"): "oom", ("lora", "error"): "OutOfMemoryError: x"})) == 1
    assert "baseline ok, current oom" in capsys.readouterr().out


def test_repeats_within_noise_do_not_fail():
    base = pd.concat([rows(), rows({("lora", "score"): 0.70})])
    cur = pd.concat([rows({("lora", "score"): 0.74}), rows({("lora", "score"): 0.70})])
    result = compare(base, cur, load_rules(DEFAULT_RULES))
    cell = next(c for c in result.cells if c.column == "score" and "lora" in c.run)
    assert cell.verdict == "within_noise" and "pooled std" in cell.note


def test_other_hardware_warns(tmp_path, baseline, capsys):
    run(tmp_path, baseline, rows({("lora", "device_name"): "CPU B", ("full_ft", "device_name"): "CPU B"}))
    assert "WARNING: baseline measured on ['CPU A'], current on ['CPU B']" in capsys.readouterr().out


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: p.unlink(), "no such file"),
    (lambda p: p.write_text("not parquet"), "not a readable Parquet file"),
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "not a readable Parquet file"),
    (lambda p: pd.DataFrame({"run_id": ["a"], "status": ["ok"], "schema_version": [99]}).to_parquet(p),
     "schema version 99 is newer than this harness's"),
])
def test_bad_baseline_exits_2_with_one_line(tmp_path, baseline, capsys, corrupt, message):
    corrupt(baseline)
    assert run(tmp_path, baseline, rows()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(baseline) in err and message in err


def test_bad_tolerance_file(tmp_path, baseline, capsys):
    bad = tmp_path / "tol.yaml"
    bad.write_text("columns:\n  score: {kind: fuzzy}\n")
    assert run(tmp_path, baseline, rows(), "--tolerances", str(bad)) == 2
    assert "columns.score.kind: expected one of exact, abs, rel" in capsys.readouterr().err


def test_update_writes_ok_rows_and_refuses_others(tmp_path, capsys):
    target = tmp_path / "new.parquet"
    assert run(tmp_path, target, rows(), "--update") == 0 and target.exists()
    before = target.read_bytes()
    assert run(tmp_path, target, rows({("lora", "status"): "error"}), "--update") == 2
    assert "refusing to write" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_rules():
    assert Rule("abs", 0.005, "higher").verdict(0.80, 0.79) == "regression"
    assert Rule("abs", 0.005, "higher").verdict(0.80, 0.81) == "improvement"
    assert Rule("rel", 0.1, "lower").verdict(100, 109) == "ok"
    assert Rule("exact").verdict(5, 5) == "ok"


def test_two_ok_rows_of_one_config_are_named_not_averaged_as_seeds():
    current = rows({("lora", "score"): 0.50})
    twin = current[current["method"] == "lora"].copy()
    twin["run_id"], twin["score"] = "id-lora-again", 0.80
    current["config_hash"], twin["config_hash"] = current["method"], "lora"
    current["timestamp_utc"], twin["timestamp_utc"] = "2026-01-01T00:00:00", "2026-01-02T00:00:00"
    result = compare(rows(), pd.concat([current, twin], ignore_index=True), load_rules(DEFAULT_RULES))
    assert any("current: 1 config(s) have more than one ok row: lora (2 rows)" in w for w in result.warnings)
    score = next(c for c in result.cells if c.column == "score" and "lora" in c.run)
    assert score.current == 0.80 and score.verdict == "ok"  # the newest row, not the mean 0.65
