"""Hydra's basic sweeper, telling each cell its place in the sweep (`cell k/n` in the logs)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore

SWEEP_SIZE_ENV = "PEFT_BENCH_SWEEP_SIZE"


class ProgressSweeper(BasicSweeper):
    def get_job_batch(self):
        os.environ[SWEEP_SIZE_ENV] = str(sum(len(batch) for batch in self.overrides))
        return super().get_job_batch()


@dataclass
class ProgressSweeperConf(BasicSweeperConf):
    _target_: str = "harness.sweeper.ProgressSweeper"


ConfigStore.instance().store(group="hydra/sweeper", name="progress", node=ProgressSweeperConf, provider="peft-bench")
