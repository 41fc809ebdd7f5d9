"""A library's misleading log line is reworded where it is logged, and nothing else is touched."""

import logging

from harness.library_noise import BNB_CPU_OPS, reword_library_noise


def test_the_hub_kernel_warning_becomes_one_info_line_that_never_advises_remote_code(caplog):
    reword_library_noise()
    reword_library_noise()  # idempotent: one filter, one line
    with caplog.at_level(logging.DEBUG, logger=BNB_CPU_OPS):
        logging.getLogger(BNB_CPU_OPS).warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure ...",
            "could not verify publisher trust status. Set trust_remote_code=True or ...")
        logging.getLogger(BNB_CPU_OPS).warning("another warning: %d", 3)
    (reworded, other) = caplog.records
    assert reworded.levelno == logging.INFO and "built-in CPU kernels run instead" in reworded.getMessage()
    assert "trust_remote_code" not in reworded.getMessage()
    assert other.levelno == logging.WARNING and other.getMessage() == "another warning: 3"
