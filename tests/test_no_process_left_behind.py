"""The suite leaves no process behind: conftest's session-end check fails the run when a
process the suite started (carrying its marker) is still alive. Here: that the check sees one."""

import os
import subprocess
import sys
import time

import pytest

from tests.conftest import SESSION_MARKER, processes_with_marker


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_session_check_finds_a_detached_process_of_the_suite_and_not_after_it_ends():
    marker = os.environ[SESSION_MARKER]
    # detached like an orphaned pool worker: own session, re-parented when its parent exits
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        deadline = time.time() + 10
        while proc.pid not in [pid for pid, _ in processes_with_marker(marker)] and time.time() < deadline:
            time.sleep(0.1)
        assert proc.pid in [pid for pid, _ in processes_with_marker(marker)]
    finally:
        proc.kill()
        proc.wait()
    assert proc.pid not in [pid for pid, _ in processes_with_marker(marker)]
