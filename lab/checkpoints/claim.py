"""One writer per run directory: a `lab sweep` holds an exclusive lock on DIR/.lab.lock while it writes.

The lock is the operating system's (`fcntl.flock` on an open file), so it is released when the
process ends in any way, a crash or a SIGKILL included: a claim left by a dead process never
blocks a rerun. The file itself stays, holding who last wrote there; runs ignore it.

    with claim(run_dir):   # LabError at once if a live process is writing run_dir
        ...
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Iterator

from lab.errors import LabError

LOCK_FILE = ".lab.lock"


@contextlib.contextmanager
def claim(run_dir: Path) -> Iterator[None]:
    """Hold run_dir for this process (creating the folder), or raise LabError naming the live writer."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(run_dir / LOCK_FILE, "a+")
    except OSError as e:
        raise LabError(f"cannot write the run directory {run_dir} ({e.strerror}); pass another --out") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LabError(f"{run_dir} is being written by {holder}; wait for it to finish or stop it, or pass "
                           "another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"`lab sweep` pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock
