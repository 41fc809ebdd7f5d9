"""harness.recompute: which rows it rewrites."""

import shutil
from pathlib import Path

from harness.predict.step_time import VERSION
from harness.recompute import accuracy, recompute
from harness.record.store import read_table, result_files, write_frame

REPO = Path(__file__).resolve().parents[1]


def _committed_row(tmp_path: Path, device: str) -> Path:
    for path in result_files(REPO / "results" / "runs"):
        row = read_table(path).iloc[0]
        if row["mode"] == "train" and row["status"] == "ok" and row["device"] == device:
            copy = tmp_path / path.name
            shutil.copy(path, copy)
            return copy
    raise AssertionError(f"no committed {device} training row")


def test_stale_skips_rows_the_current_predictor_made(tmp_path):
    path = _committed_row(tmp_path, "cpu")
    df = read_table(path)
    df.loc[df.index[0], "predictor_version"] = VERSION
    write_frame(df, path)
    before = path.read_bytes()
    assert recompute(path, "all", "some other CPU", stale=True) == f"skipped (already {VERSION})"
    assert path.read_bytes() == before


def test_device_filter_leaves_other_rows_alone(tmp_path):
    path = _committed_row(tmp_path, "cuda")
    before = path.read_bytes()
    assert recompute(path, "cpu", "some other CPU").startswith("skipped (device cuda)")
    assert path.read_bytes() == before


def test_accuracy_sets_predicted_beside_measured_step(tmp_path):
    path = _committed_row(tmp_path, "cpu")
    df = read_table(path)
    df.loc[df.index[0], "train_examples_per_s"] = 4.0
    df.loc[df.index[0], "predicted_train_examples_per_s"] = 8.0  # predicted step half the measured one
    write_frame(df, path)
    (line,) = accuracy([path])
    assert "1 rows, step time median |error| 50.0 %, worst -50 %" in line, line
