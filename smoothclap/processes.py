"""Worker processes and signals, shared by training, inference and the dataset builders: a
worker leaves stopping to its main process and dies with it; how many cores this process may use."""

from __future__ import annotations

import os
import signal
import threading
import time


def core_count() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGINT/SIGTERM.

    A scheduler (SLURM, ``scancel``), a terminal's Ctrl-C and torchrun signal every process
    of the group, workers included. A worker that dies of it makes PyTorch raise "DataLoader
    worker ... is killed by signal" in the main process, possibly in the middle of saving.
    Ignoring the signal leaves the decision to the main process, which stops at the next
    step boundary, saves, and then shuts the workers down itself.

    A main process killed with SIGKILL cannot shut them down: such an orphan hung for ever
    at exit, joining a queue feeder blocked on a pipe nobody reads, and SIGTERM no longer
    reached it. On Linux each worker therefore asks the kernel for SIGKILL when its parent
    dies (prctl PR_SET_PDEATHSIG)."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    die_with_parent()


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (Linux prctl; elsewhere nothing)."""
    import ctypes

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def exit_when_gone(pid: int, every: float = 0.5) -> None:
    """Exit this process once process ``pid`` is gone, checked every ``every`` seconds by a
    daemon thread. For workers that are not ``pid``'s children (a forkserver's), which the
    kernel's parent-death signal (`die_with_parent`) cannot reach."""

    def watch():
        while True:
            time.sleep(every)
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):  # gone (or the pid reused by another user's process)
                os._exit(1)

    threading.Thread(target=watch, name=f"exit-when-{pid}-gone", daemon=True).start()
