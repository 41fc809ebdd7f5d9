"""The model and batches a training benchmark times: a conf/ config composed from overrides, a GLUE
task's training sentences encoded by the model's tokenizer, the model loaded at the precision with
the method applied as a run applies it (trainable parameters kept in fp32)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.cell_setup import load_data  # noqa: E402
from harness.lr_search import register_resolvers  # noqa: E402
from harness.methods import get_method, parse_args  # noqa: E402
from harness.models import loading  # noqa: E402
from harness.precision import resolve_in_config  # noqa: E402
from harness.run import build_model  # noqa: E402
from harness.tasks import get_task  # noqa: E402

DEFAULT_GLUE_DIR = REPO.parent / "shared" / "data" / "glue"


@dataclass
class Setup:
    cfg: object  # the composed config
    model: object
    enc: object  # the encoded training sentences (harness.tasks.batching.encode)
    pad_id: int


def prepared(overrides: list[str], task_name: str, glue_dir: Path, max_train: int, device: str = "cpu",
             total_steps: int = 100) -> Setup:
    """The harness's own set-up of a cell (harness.cell_setup's data, harness.run's model with the
    method applied), so that a benchmark times what a run trains."""
    import torch

    register_resolvers()  # the config's ${mul:...}, ${best_lr:} interpolations
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, f"task={task_name}", f"data.glue_dir={glue_dir}",
                                                       f"data.max_train_samples={max_train}"])
    resolve_in_config(cfg)
    task, method = get_task(task_name), get_method(cfg.method.name)
    tok = loading.load_tokenizer(cfg.model)
    enc = load_data(cfg, task, tok)[0]
    model, _, _ = build_model(cfg, task, method, parse_args(method, cfg.method), cfg.precision.name,
                              torch.device(device), total_steps)
    return Setup(cfg, model, enc, tok.pad_token_id)
