"""The command line when something is wrong: failing cells leave status rows and the sweep goes
on, then the command exits 3 with one line per failed cell (0 with +allow_failures=true); bad
names and values fail before any work with one line and exit 2; a run that cannot learn says so;
the harness's own errors are one line, without a traceback."""

import pandas as pd
import pytest

from harness.record.store import load_results
from tests.conftest import run_cli
from tests.test_cli import TINY


@pytest.mark.slow
def test_failing_cells_leave_status_rows_and_the_sweep_goes_on(tmp_path, glue_dir):
    bad = tmp_path / "bad_glue" / "SST-2"
    bad.mkdir(parents=True)
    (bad / "train.tsv").write_text("sentence\tlabel\ngood\t1\nbroken row without a label\n")
    (bad / "dev.tsv").write_text("sentence\tlabel\nok\t1\n")
    proc = run_cli("-m", f"data.glue_dir={bad.parent},{glue_dir}", f"results_dir={tmp_path / 'r'}", *TINY)
    assert proc.returncode == 3, proc.stderr[-3000:]
    rows = load_results(tmp_path / "r").sort_values("sweep_job_num")
    assert rows["status"].tolist() == ["error", "ok"]
    assert "train.tsv:3: expected 2 tab-separated fields" in rows["error"].iloc[0]
    failed = [line for line in proc.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 1 and "status=error" in failed[0] and rows["run_id"].iloc[0] in failed[0]
    assert "Traceback" not in proc.stderr  # DataFormatError is the harness's own: one line


@pytest.mark.slow
def test_allow_failures_keeps_exit_zero(tmp_path):
    proc = run_cli("data.glue_dir=/nonexistent/glue", f"results_dir={tmp_path}", "+allow_failures=true", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load_results(tmp_path)["status"].tolist() == ["missing_data"]
    assert "failed: run:" in proc.stderr


@pytest.mark.slow
def test_nan_loss_and_missing_data_statuses(tmp_path, glue_dir):
    proc = run_cli("-m", "task=glue/qqp,glue/sst2", "train.lr=1e30", "method=full_ft", f"data.glue_dir={glue_dir}",
                   f"results_dir={tmp_path}", *TINY)
    assert proc.returncode == 3, proc.stderr[-3000:]
    rows = load_results(tmp_path).set_index("task")
    assert rows.loc["glue/qqp", "status"] == "missing_data"
    assert str(glue_dir / "QQP" / "train.tsv") in rows.loc["glue/qqp", "error"]
    assert rows.loc["glue/sst2", "status"] == "nan_loss"


@pytest.mark.parametrize("args, message", [
    (["method=nope"], "error: unknown method 'nope' (no conf/method/nope.yaml); valid: adalora, adalora_high,"),
    (["task=glue/foo"], "error: unknown task 'glue/foo' (no conf/task/glue/foo.yaml); valid: glue/cola,"),
    (["precision=fp8"], "error: unknown precision 'fp8'"),
    (["model=gpt9"], "error: unknown model 'gpt9'"),
    (["-m", "method=lora,nope"], "error: unknown method 'nope'"),
    (["train.batch_size=abc"], "error: train.batch_size: Value 'abc' of type 'str' could not be converted to Integer"),
    (["method.r=abc"], "error: method.r:"),
    (["train.distributed=zero3"], "error: train.distributed='zero3'; valid: null, ddp, fsdp"),
    (["method=p_tuning_v2", "train.gradient_checkpointing=true"],
     "error: train.gradient_checkpointing=true: method prefix_tuning cannot train with it: the prefix reaches"),
    (["NO_SUCH_KEY=1"], "error: unknown config key 'NO_SUCH_KEY'; nearest valid: "),
    (["train.lrr=1e-3"], "error: unknown config key 'train.lrr'; nearest valid: train.lr"),
    (["-m", "method=lora,bitfit", "method.rr=4"], "error: unknown config key 'method.rr'; nearest valid: method.r"),
])
def test_bad_names_fail_before_any_work_with_one_line(tmp_path, args, message):
    proc = run_cli(*args, f"results_dir={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(message), lines[0]
    assert not list(tmp_path.rglob("*.parquet"))


@pytest.mark.slow
def test_a_learning_rate_of_zero_records_no_learning_not_an_ok_score(tmp_path, glue_dir):
    proc = run_cli("train.lr=0", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path}", *TINY)
    assert proc.returncode == 3, proc.stderr[-3000:]
    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "no_learning", row["error"]
    assert "no trainable parameter changed" in row["error"] and pd.isna(row["score"])
    assert row["lr_source"] == "train.lr override"


def test_the_key_check_knows_list_items_by_index():
    from harness.cli import _flat_keys

    assert _flat_keys({"a": [{"b": 1}, 2], "c": {"d": None}}) == ["a", "a.0", "a.0.b", "a.1", "c", "c.d"]
