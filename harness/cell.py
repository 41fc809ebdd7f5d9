"""Child-process entry of one cell: `python -m harness.cell SPEC.json`.

The parent (harness.launch) writes the resolved config and the run's identity to SPEC.json;
this process runs the cell and writes its row. Its own process means its own memory peak,
and a crash here cannot take the sweep down.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from omegaconf import OmegaConf


def main(spec_path: str) -> int:
    from harness.library_noise import reword_library_noise
    from harness.lifetime import watch_parent

    watch_parent()  # never outlive the sweep that started this cell
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][cell][%(levelname)s] %(message)s",
                        datefmt="%H:%M:%S")
    reword_library_noise()
    from harness.record.store import write_row
    from harness.run import run_cell

    with open(spec_path) as fh:
        spec = json.load(fh)
    cfg = OmegaConf.create(spec["config"])
    row = run_cell(cfg, spec)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # data-parallel run: the main process records the row
    path = write_row(row, cfg.results_dir)
    logging.getLogger("harness.cell").info("status=%s row -> %s", row["status"], path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
