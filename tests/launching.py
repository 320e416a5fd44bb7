"""Start training the way users do, with real launchers and real signals (test helper).

``accelerate launch`` for one or several "machines" on this host (each machine rank a
command of its own, as on a cluster), and a scheduler-like stop: SIGTERM to every process
group of a job (the launcher, its workers and their DataLoader workers; torchrun starts
each rank in a session of its own, so signalling the launcher's group alone is not what
SLURM or ``scancel`` do).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def launcher_env(**extra) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", PYTHONPATH=ROOT)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def accelerate_cmd(*launch_args) -> list[str]:
    """``accelerate launch ...``: the console script installed beside this Python."""
    script = os.path.join(os.path.dirname(sys.executable), "accelerate")
    return [script if os.path.isfile(script) else "accelerate", "launch", *map(str, launch_args)]


def machine_cmd(machine_rank: int, num_machines: int, port: int, script_args) -> list[str]:
    """One machine's command of a multi-node CPU job (one process per machine)."""
    return accelerate_cmd("--multi_gpu", "--num_machines", num_machines, "--machine_rank", machine_rank,
                          "--main_process_ip", "127.0.0.1", "--main_process_port", port,
                          "--num_processes", num_machines, os.path.join(ROOT, "train_accelerate.py"),
                          *map(str, script_args))


def start(cmd, env, log_path) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own (a job step), output to ``log_path``."""
    fh = open(log_path, "w")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def job_process_groups(procs) -> set[int]:
    """Process groups of every process of the job: the launchers and all their descendants."""
    import psutil

    groups = set()
    for proc in procs:
        try:
            root = psutil.Process(proc.pid)
            for p in [root, *root.children(recursive=True)]:
                try:
                    groups.add(os.getpgid(p.pid))
                except ProcessLookupError:
                    pass
        except psutil.NoSuchProcess:
            pass
    return groups


def descendants(procs) -> list[int]:
    import psutil

    out = []
    for proc in procs:
        try:
            out += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return out


def signal_job(procs, sig=signal.SIGTERM) -> set[int]:
    """Send ``sig`` to every process group of the job, as a scheduler does."""
    groups = job_process_groups(procs)
    for g in groups:
        try:
            os.killpg(g, sig)
        except ProcessLookupError:
            pass
    return groups


def wait_all(procs, timeout: float) -> list[int | None]:
    """Wait for every process (bounded); kill what is left after ``timeout`` (returns None for those)."""
    deadline = time.time() + timeout
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(0.1, deadline - time.time())))
        except subprocess.TimeoutExpired:
            codes.append(None)
    if None in codes:
        signal_job(procs, signal.SIGKILL)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    return codes


def wait_for(predicate, timeout: float, interval: float = 0.005) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
