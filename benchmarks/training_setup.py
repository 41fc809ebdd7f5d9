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

from harness.lr_search import register_resolvers  # noqa: E402
from harness.methods import MethodContext, get_method, parse_args  # noqa: E402
from harness.models import loading  # noqa: E402
from harness.models.architecture import head_module_names  # noqa: E402
from harness.precision import keep_trainable_in_fp32  # noqa: E402
from harness.tasks import get_task  # noqa: E402
from harness.tasks.batching import encode  # noqa: E402
from harness.tasks.glue import load_glue  # noqa: E402

DEFAULT_GLUE_DIR = REPO.parent / "shared" / "data" / "glue"


@dataclass
class Setup:
    cfg: object  # the composed config
    model: object
    enc: object  # the encoded training sentences (harness.tasks.batching.encode)
    pad_id: int


def prepared(overrides: list[str], task_name: str, glue_dir: Path, max_train: int, device: str = "cpu",
             total_steps: int = 100) -> Setup:
    register_resolvers()  # the config's ${mul:...}, ${best_lr:} interpolations
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[*overrides, f"task={task_name}"])
    precision = cfg.precision.name
    task, method = get_task(task_name), get_method(cfg.method.name)
    data = load_glue(task, str(glue_dir), "", max_train=max_train)
    tok = loading.load_tokenizer(cfg.model)
    enc = encode(tok, data.train, 128)
    model = loading.load_model(cfg.model, task, precision, device)
    ctx = MethodContext(model.config.model_type, head_module_names(model), total_steps)
    model = keep_trainable_in_fp32(method.apply(model, parse_args(method, cfg.method), ctx)).to(device)
    return Setup(cfg, model, enc, tok.pad_token_id)
