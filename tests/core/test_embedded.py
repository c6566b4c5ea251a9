"""The embedded PostgreSQL: handles of killed processes must not keep the server alive after Ctrl-C."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.embedded import _forget_dead_handles


def test_dead_handles_are_forgotten(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(gone.stdout)
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([dead_pid, os.getpid()]))
    _forget_dead_handles(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]
