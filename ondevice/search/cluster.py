"""The Ray cluster a search runs its trials on: a local one it starts and stops, or one it joins.

Ray turns ``localhost`` into the machine's network address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``
is 0, set here before Ray is imported, so that a local cluster stays on loopback (127.0.0.1).

Adb devices are Ray resources named ``adb:<serial>``, one unit each: a measurement asks for its
device's unit, so one trial at a time profiles on each device while builds go on elsewhere. A local
cluster declares the devices attached here; on a joined cluster each node declares its own
(``ray start ... --resources '{"adb:SERIAL": 1}'``).
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from typing import Iterator

from ondevice.errors import ConfigError, OndeviceError

DEVICE_PREFIX = "adb:"


class ClusterError(OndeviceError):
    """The cluster cannot be reached or has not what the search needs."""


def _import_ray():
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    return ray


def check_address(address: str, timeout: float = 5.0) -> tuple[str, int]:
    """HOST:PORT of a Ray head's GCS, reachable now; Ray's own client would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--ray-address {address!r}: give HOST:PORT of the Ray head (e.g. 127.0.0.1:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ClusterError(
            f"--ray-address {address}: no Ray head answers there ({e.strerror or e}); start one with "
            "`ray start --head --port PORT` or leave --ray-address out to run a local cluster"
        ) from None
    return host, int(port)


def answers(address: str, timeout: float = 2.0) -> bool:
    """Whether something listens at HOST:PORT (a Ray head's GCS) now."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def head_address(ray) -> str:
    """HOST:PORT of the GCS of the cluster this process has joined or started."""
    return ray.get_runtime_context().gcs_address


def cluster_gone(address: str | None, head: str, in_flight: int) -> ClusterError:
    """What to say when the cluster's head stops answering in the middle of a search: stopped from
    outside (``ray stop``), killed for memory, or its machine gone. The trials in flight stay unfinished,
    and ``--resume`` runs them again."""
    where = f"the Ray cluster at {address}" if address else "the local Ray cluster the search started"
    again = "start it again and run" if address else "run"
    return ClusterError(
        f"{where} has gone: its head ({head}) no longer answers, stopped or killed from outside; "
        f"{in_flight} trial(s) in flight stay unfinished; {again} the search with --resume"
    )


def wait_one(ray, refs: list, head: str, address: str | None, poll_s: float = 5.0, misses: int = 6):
    """The first of ``refs`` to finish. Between polls the head is asked whether it is there: when it has
    not answered ``misses`` polls running (half a minute: a network's hiccup is not a lost cluster),
    ClusterError, before Ray's own driver would give up on its head (60 s) and end the process with no
    word of why. (A task on a node that died fails at once, and the caller asks the head then.)"""
    missed = 0
    while True:
        done, _ = ray.wait(refs, num_returns=1, timeout=poll_s)
        if done:
            return done[0]
        missed = 0 if answers(head) else missed + 1
        if missed >= misses:
            raise cluster_gone(address, head, len(refs))


@contextmanager
def cluster(address: str | None, cpus: int, devices: list[str]) -> Iterator[object]:
    """Ray, initialised: joined at ``address``, or a local cluster of ``cpus`` CPUs and the ``devices``
    as resources, shut down on the way out (a joined cluster keeps running)."""
    if address:
        check_address(address)
    ray = _import_ray()
    common = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(
                address="local",  # a new cluster, even where a `ray start` one runs (or ran) on this machine
                num_cpus=cpus,
                resources={DEVICE_PREFIX + s: 1 for s in devices},
                _node_ip_address="127.0.0.1",
                **common,
            )
    except (ConnectionError, RuntimeError, ValueError) as e:
        if not address:
            raise ClusterError(f"cannot start Ray: {e}") from None
        raise ClusterError(
            f"cannot join the Ray cluster at {address}: {e} (a cluster with token authentication needs its "
            "token here: the head's ~/.ray/auth_token in the same place, or RAY_AUTH_TOKEN set to it)"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_devices(ray) -> list[str]:
    """The adb serials the cluster offers as resources."""
    return sorted(k[len(DEVICE_PREFIX) :] for k in ray.cluster_resources() if k.startswith(DEVICE_PREFIX))


def cluster_cpus(ray) -> int:
    return int(ray.cluster_resources().get("CPU", 0))


def node_cpu_count(ray) -> int:
    """The CPUs of the smallest live node: a task asking for that many runs alone on whichever node it gets."""
    counts = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
    return max(1, min([c for c in counts if c] or [1]))
