"""What a run started and must undo (containers on engines, pytest children), and how a signal cancels it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from porttest.engine.protocol import EngineHandle, Engines
from porttest.run.launcher import Child

log = logging.getLogger("porttest")


@dataclass
class Tracker:
    """Everything a run started that must be undone: containers and networks on engines (removed through
    `engines`) and pytest children."""

    engines: Engines
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Keyed by environment name for the tested container, "ENV/SERVICE" for a service's.
    containers: dict[str, tuple[EngineHandle, str]] = field(default_factory=dict)
    networks: dict[str, tuple[EngineHandle, str]] = field(default_factory=dict)  # by environment name
    children: dict[str, Child] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    force: threading.Event = field(default_factory=threading.Event)

    def add_container(self, env: str, engine: EngineHandle, container_id: str) -> None:
        with self.lock:
            self.containers[env] = (engine, container_id)

    def drop_container(self, env: str) -> tuple[EngineHandle, str] | None:
        with self.lock:
            return self.containers.pop(env, None)

    def add_network(self, env: str, engine: EngineHandle, name: str) -> None:
        with self.lock:
            self.networks[env] = (engine, name)

    def drop_network(self, env: str) -> tuple[EngineHandle, str] | None:
        with self.lock:
            return self.networks.pop(env, None)

    def services_of(self, env: str) -> list[str]:
        """The keys of an environment's service containers that are still registered."""
        with self.lock:
            return [key for key in self.containers if key.startswith(f"{env}/")]

    def add_child(self, env: str, proc: Child) -> None:
        with self.lock:
            self.children[env] = proc

    def drop_child(self, env: str) -> None:
        with self.lock:
            self.children.pop(env, None)

    def abort(self) -> None:
        """Cancel: stop our own children by PID, then force-remove our containers, then the networks they were on
        (any thread may call this)."""
        self.cancel.set()
        with self.lock:
            children = list(self.children.values())
            owned = list(self.containers.items())
        for proc in children:
            proc.stop()
        for env, (engine, cid) in owned:
            try:
                self.engines.remove(engine, cid)
            except Exception as exc:  # noqa: BLE001 - keep removing the others
                log.warning("could not remove container %s of %s: %s", cid[:12], env, exc)
            self.drop_container(env)
        with self.lock:
            nets = list(self.networks.items())
        for env, (engine, name) in nets:
            try:
                self.engines.remove_leftover(engine, "network", name)
            except Exception as exc:  # noqa: BLE001 - kept: the cell's own teardown tries again
                log.warning("could not remove network %s of %s: %s", name, env, exc)
                continue
            self.drop_network(env)


ACTIVE: list[Tracker] = []


def force_quit() -> None:
    """A second Ctrl-C: stop waiting for environments that are still winding down (safe in a signal handler)."""
    for tracker in list(ACTIVE):
        tracker.force.set()
