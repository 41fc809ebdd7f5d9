"""A recipe follows the task it is for: narrowing a recipe sweep with `task=` keeps that task's
recipe only, and a task and a recipe that disagree fail before any work, naming both."""

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from harness.errors import ConfigError
from harness.recipes import follow_task, recipe_task
from tests.conftest import CONF, run_cli


def cells(argv: list[str]) -> list[list[str]]:
    """The cells Hydra's basic sweeper expands: the sweep's params, then the command line."""
    sweep = next(a.partition("=")[2] for a in argv if a.lstrip("+").startswith("sweep="))
    params = OmegaConf.load(CONF / "sweep" / f"{sweep}.yaml").hydra.sweeper.params
    overrides = [f"{k}={v}" for k, v in params.items()] + [a for a in argv if not a.lstrip("+").startswith("sweep=")]
    return BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(overrides), None)[0]


def test_every_glue_cpu_recipe_names_its_task():
    for name in ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"):
        assert recipe_task(f"glue_cpu/{name}") == f"glue/{name}"


def test_narrowing_glue_lora_to_one_task_runs_that_tasks_recipe_only():
    argv = follow_task(["+sweep=glue_lora", "task=glue/stsb"])
    assert argv == ["+sweep=glue_lora", "+recipe=glue_cpu/stsb"]
    expanded = cells(argv)
    assert len(expanded) == 3  # three seeds, all under STS-B's own recipe
    assert all("+recipe=glue_cpu/stsb" in cell for cell in expanded)


def test_two_tasks_keep_two_recipes():
    argv = follow_task(["+sweep=glue_methods", "task=glue/mrpc,glue/stsb", "method=lora"])
    assert "+recipe=glue_cpu/mrpc,glue_cpu/stsb" in argv and not any(a.startswith("task=") for a in argv)


def test_a_task_the_sweep_has_no_recipe_for_is_one_line():
    with pytest.raises(ConfigError, match="task=instruct/gsm8k: this sweep runs over recipes"):
        follow_task(["+sweep=glue_methods", "task=instruct/gsm8k"])


def test_a_recipe_and_a_task_that_disagree_fail_naming_both():
    with pytest.raises(ConfigError, match=r"recipe=glue_cpu/rte is the recipe of task=glue/rte, but task=glue/stsb"):
        follow_task(["+recipe=glue_cpu/rte", "task=glue/stsb"])
    assert follow_task(["+recipe=glue_cpu/rte", "task=glue/rte"]) == ["+recipe=glue_cpu/rte", "task=glue/rte"]


def test_sweeps_without_a_recipe_axis_are_untouched():
    assert follow_task(["+sweep=smoke", "task=glue/rte"]) == ["+sweep=smoke", "task=glue/rte"]


def test_the_command_line_refuses_a_conflicting_pair_before_any_work(tmp_path):
    out = run_cli("+recipe=glue_cpu/rte", "task=glue/stsb", f"results_dir={tmp_path}")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: recipe=glue_cpu/rte is the recipe of task=glue/rte, but task=glue/stsb was given; "
        "drop one of them (a recipe selects its own task)"]
    assert not (tmp_path / "runs").exists()
