"""Library log lines that would mislead a user of the harness, reworded where they are logged."""

from __future__ import annotations

import logging

BNB_CPU_OPS = "bitsandbytes.backends.cpu.ops"
BNB_HUB_KERNEL_FAILED = "Failed to load CPU gemm_4bit_forward"


class _HubKernelUnavailable(logging.Filter):
    """On a CPU with AVX512-BF16, bitsandbytes fetches an optional 4-bit CPU kernel from the model hub
    when it is imported. Where that fails (offline; the `kernels` package refusing a publisher it
    cannot verify) it logs a warning advising `trust_remote_code=True`, which the harness never sets.
    Its built-in CPU kernels run instead, so the line becomes one info line that says so."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(BNB_HUB_KERNEL_FAILED):
            record.levelno, record.levelname, record.args = logging.INFO, "INFO", ()
            record.msg = ("bitsandbytes: its optional CPU 4-bit kernel from the model hub is not available here "
                          "(offline, or a publisher the kernels package cannot verify); its built-in CPU kernels "
                          "run instead")
        return True


def reword_library_noise() -> None:
    """Install the filters (idempotent); before the libraries are imported, since they log at import."""
    logger = logging.getLogger(BNB_CPU_OPS)
    if not any(isinstance(f, _HubKernelUnavailable) for f in logger.filters):
        logger.addFilter(_HubKernelUnavailable())
