"""Starting training code several times in one Python process, or as forked gloo workers.

Used by the tests and the benchmarks (``accelerate launch``/``torchrun`` do this for real
runs): accelerate keeps its state in process-wide singletons, so a second ``main()`` in the
same process, or a forked child that should join a process group, starts from fresh state.
"""

from __future__ import annotations

import os
import socket


def reset_accelerate_state() -> None:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


def join_cpu_group(rank: int, world: int, port: int, own_node: bool = False) -> None:
    """Make this (forked) process rank ``rank`` of a ``world``-process gloo group on 127.0.0.1.
    ``own_node=True``: the process is alone on its "node" (LOCAL_RANK 0, LOCAL_WORLD_SIZE 1), so
    accelerate's ``is_local_main_process`` holds on every rank (tests of multi-node behaviour)."""
    local_rank, local_world = (0, 1) if own_node else (rank, world)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(local_rank), WORLD_SIZE=str(world),
                      LOCAL_WORLD_SIZE=str(local_world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), ACCELERATE_USE_CPU="true",
                      GLOO_SOCKET_IFNAME="lo")
    reset_accelerate_state()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(target, args, world: int = 2, timeout: float = 240, meanwhile=None) -> None:
    """Run target(rank, *args) in `world` spawned processes (fork can deadlock on locks held by
    threads), optionally call meanwhile() in this process, and wait at most `timeout` seconds in
    all: a rank still running then is killed and named (a hang in the collectives), and every
    rank must exit 0."""
    import multiprocessing
    import time

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=(rank, *args)) for rank in range(world)]
    for p in procs:
        p.start()
    try:
        if meanwhile is not None:
            meanwhile()
    finally:
        deadline = time.time() + timeout
        for p in procs:
            p.join(timeout=max(1.0, deadline - time.time()))
        hung = [rank for rank, p in enumerate(procs) if p.is_alive()]
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)
    assert not hung, f"rank(s) {hung} still running after {timeout} s (a hang in the collectives)"
    assert [p.exitcode for p in procs] == [0] * world, f"exit codes {[p.exitcode for p in procs]}"
