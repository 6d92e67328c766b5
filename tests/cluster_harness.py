"""A private Redis Cluster for tests: N primaries with R replicas each, on free local ports.

Each node is a ``RedisServer`` of ``tests.redis_harness`` started with cluster mode on; the
cluster is formed with ``redis-cli --cluster create`` and is ready when every node reports
``cluster_state:ok``. Nodes can be killed and restarted one by one for fault tests.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from typing import Any

import redis
from redis.cluster import RedisCluster

from tests.redis_harness import RedisServer, RedisUnavailable

READY_TIMEOUT = 30.0


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_port() -> int:
    """A free port for a cluster node: at most 55535, with its bus port (port + 10000) free too."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        if _port_is_free(port) and _port_is_free(port + 10000):
            return port
    raise RedisUnavailable("no free port pair for a Redis Cluster node")


class RedisClusterUnderTest:
    """A local cluster of ``primaries * (1 + replicas)`` redis-server processes."""

    ALL = RedisCluster.ALL_NODES  # target_nodes for a command every node answers (KEYS, FLUSHALL)

    def __init__(self, primaries: int = 3, replicas: int = 0) -> None:
        self.primaries, self.replicas = primaries, replicas
        options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]
        self.nodes = [RedisServer(options, port=_cluster_port()) for _ in range(primaries * (1 + replicas))]

    @property
    def url(self) -> str:
        """A URL of one node (a cluster client discovers the others from it)."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> None:
        """Start every node, form the cluster, and wait until it serves every slot."""
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisUnavailable("redis-cli is needed to form a Redis Cluster")
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        command = [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(self.replicas), "--cluster-yes"]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RedisUnavailable(f"redis-cli --cluster create failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        self.wait_until_ok()

    def wait_until_ok(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every running node says ``cluster_state:ok`` and knows every other running node."""
        deadline = time.monotonic() + timeout
        running = [node for node in self.nodes if node.is_running]
        while True:
            try:
                infos = [node.client().cluster("info") for node in running]
                if all(
                    info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) >= len(running)
                    for info in infos
                ):
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"the cluster did not become ready within {timeout:.0f}s")
            time.sleep(0.1)

    def client(self, **kwargs: Any) -> RedisCluster:
        """A cluster client that starts from the first running node."""
        node = next(node for node in self.nodes if node.is_running)
        return RedisCluster(host="127.0.0.1", port=node.port, **kwargs)

    def flush(self) -> None:
        """Empty every primary."""
        for node in self.nodes:
            if not node.is_running:
                continue
            client = node.client()
            if client.info("replication").get("role") == "master":
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisClusterUnderTest:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
