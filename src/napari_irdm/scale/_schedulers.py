"""Which Dask scheduler a run uses: ``threads[:N]`` (default), ``local:N`` or ``tcp://HOST:PORT``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from napari_irdm.errors import ParameterError

__all__ = ["SchedulerSpec", "open_scheduler", "parse_scheduler"]

#: seconds to wait for a remote scheduler before giving up
CONNECT_TIMEOUT_S = 20


@dataclass(frozen=True)
class SchedulerSpec:
    """``kind``: ``"threads"`` (Dask's threaded scheduler in this process), ``"local"`` (a
    ``dask.distributed.LocalCluster`` of ``n`` worker processes started for the run),
    ``"address"`` (an existing cluster at ``address``) or ``"client"`` (a given Client)."""

    kind: str
    n: int = 0
    address: str = ""
    client: Any = None


def parse_scheduler(spec: Any = None) -> SchedulerSpec:
    """Parse ``None`` / ``"threads"`` / ``"threads:N"`` / ``"local:N"`` / ``"tcp://HOST:PORT"`` /
    a ``distributed.Client``.

    Raises
    ------
    ValueError
        For anything else, with the accepted forms.
    """
    if spec is None:
        return SchedulerSpec("threads", 0)
    if type(spec).__name__ == "Client" and hasattr(spec, "submit"):
        return SchedulerSpec("client", client=spec)
    text = str(spec).strip()
    low = text.lower()
    usage = ("give `scheduler` as threads, threads:N, local:N (N worker processes) or tcp://HOST:PORT "
             "(an existing cluster)")
    if low in ("threads", "threaded", "local-threads"):
        return SchedulerSpec("threads", 0)
    for prefix, kind in (("threads:", "threads"), ("local:", "local")):
        if low.startswith(prefix):
            n_text = low[len(prefix):]
            if not n_text.isdigit() or not 1 <= int(n_text) <= 1024:
                raise ParameterError(f"scheduler {text!r}: N must be a whole number from 1 to 1024; {usage}", "scheduler")
            return SchedulerSpec(kind, int(n_text))
    if low == "local":
        return SchedulerSpec("local", max(1, os.cpu_count() or 1))
    if "://" in low:
        proto, _, rest = low.partition("://")
        host, _, port = rest.rpartition(":")
        if proto not in ("tcp", "tls", "inproc", "ucx", "ws", "wss") or not host or not port.isdigit():
            raise ParameterError(f"scheduler address {text!r} must look like tcp://HOST:PORT; {usage}", "scheduler")
        return SchedulerSpec("address", address=text)
    raise ParameterError(f"unknown scheduler {text!r}: {usage}", "scheduler")


def _local_cluster(n: int, gpus: int):
    """``n`` worker processes, one thread each; with GPUs, worker ``i`` sees only GPU ``i % gpus``.

    The dashboard takes a free port (``":0"``; ``client.dashboard_link`` says which), so a second
    cluster on the machine (another run, a notebook) does not clash on 8787.
    """
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    if not gpus:
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                            silence_logs=40)
    workers = {i: {"cls": Nanny, "options": {"nthreads": 1, "env": {"CUDA_VISIBLE_DEVICES": str(i % gpus)},
                                             "silence_logs": 40}}
               for i in range(n)}
    return SpecCluster(workers=workers, scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}},
                       silence_logs=40)


@contextlib.contextmanager
def open_scheduler(spec: SchedulerSpec, *, gpus: int = 0) -> Iterator[Any]:
    """Yield a ``distributed.Client`` (``None`` for the threaded scheduler); a cluster started
    here is closed on exit (its workers with it)."""
    if spec.kind == "threads":
        yield None
        return
    if spec.kind == "client":
        yield spec.client
        return
    try:
        from distributed import Client
    except ImportError as err:
        raise ValueError(f"a {spec.kind} scheduler needs dask.distributed ({err}): pip install distributed") from None
    if spec.kind == "local":
        cluster = _local_cluster(spec.n, gpus)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(spec.address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as err:
        raise OSError(f"cannot reach the Dask scheduler at {spec.address} ({type(err).__name__}): start one "
                      "('dask scheduler' + 'dask worker ADDRESS', or dask-jobqueue) or use a local cluster (local:N)"
                      ) from None
    with client:
        yield client
