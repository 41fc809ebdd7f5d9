"""Each method trains at its usual learning rate unless told otherwise, and every row says
where its learning rate came from."""

from pathlib import Path

import pytest
import yaml

from harness.record.identity import identity_columns
from tests.conftest import CONF, make_cfg

METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))


@pytest.mark.parametrize("name", METHODS)
def test_every_method_config_names_its_learning_rate_and_where_it_comes_from(name):
    recipe = yaml.safe_load(Path(CONF / "method" / f"{name}.yaml").read_text())["recipe"]
    assert 1e-6 <= float(recipe["lr"]) <= 1e-1 and len(recipe["source"]) > 10
    assert make_cfg(f"method={name}").train.lr == float(recipe["lr"])


def test_the_usual_ranges_per_family():
    lr = {name: make_cfg(f"method={name}").train.lr for name in ("full_ft", "lora", "bitfit", "ia3", "prompt_tuning")}
    assert 2e-5 <= lr["full_ft"] <= 5e-5 and 5e-4 <= lr["lora"] <= 1e-3 and lr["bitfit"] >= 1e-3
    assert lr["ia3"] == pytest.approx(3e-3) and lr["prompt_tuning"] >= 1e-2


def test_the_row_says_where_its_learning_rate_came_from():
    spec = {"run_id": "r", "config_hash": "h"}
    row = identity_columns(make_cfg("method=ia3"), spec)
    assert row["lr"] == pytest.approx(3e-3) and row["lr_source"].startswith("method recipe: (IA)3")
    row = identity_columns(make_cfg("method=ia3", "train.lr=1e-4"), spec)
    assert row["lr"] == pytest.approx(1e-4) and row["lr_source"] == "train.lr override"
    assert "recipe" not in row["method_args"]
