"""Helpers shared by the service modules: grafting onto moto's classes, env settings, timed states."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from moto.moto_api import state_manager
from moto.moto_api._internal.managed_state_model import ManagedState

#: Guards the extension's cross-region state. Module level (not per object) so that moto's
#: deep copies of models (e.g. DynamoDB transactions, RDS start_db_cluster) never meet a lock.
LOCK = threading.RLock()


def extend(cls: type, mixin: type) -> None:
    """Copy the attributes `mixin` defines onto moto's own class `cls`.

    This is what the upstream change would be: new methods on moto's backend, model and
    response classes (moto dispatches an action to the snake_case method of the response
    class, so a new method is a new operation). An attribute the mixin replaces stays
    reachable as ``_orig_<name>`` (a replaced property keeps working through
    ``self._orig_<name>``). Idempotent.
    """
    for name, value in vars(mixin).items():
        if name.startswith("__"):
            continue
        backup = f"_orig_{name}"
        if name in vars(cls) and backup not in vars(cls):
            setattr(cls, backup, vars(cls)[name])
        setattr(cls, name, value)


def env_seconds(name: str, default: float) -> float:
    """A non-negative number of seconds from the environment (``default`` if unset or bad)."""
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def register_duration(model_name: str, seconds: float) -> None:
    """Register how long a `TimedOperation` of ``model_name`` stays in its first state.

    Uses moto's state manager, so a test can still override it through
    ``/moto-api/state-manager/set-transition`` like any other moto model.
    """
    transition: dict[str, Any] = (
        {"progression": "time", "seconds": seconds} if seconds > 0 else {"progression": "immediate"}
    )
    state_manager.register_default_transition(model_name, transition)


class TimedOperation(ManagedState):
    """An asynchronous operation with one transition, ``running -> done`` (moto's ManagedState).

    The state advances when observed (as all of moto's managed states do); the first
    observation that finds it done runs `on_done` exactly once.
    """

    def __init__(
        self, model_name: str, running: str, done: str, on_done: Callable[[], None] | None = None
    ):
        super().__init__(model_name, [(running, done)])
        self.done_status = done
        self._finished = False
        self._on_done = on_done

    def poll(self) -> bool:
        """Advance the state if due; True once done (and `on_done` has run)."""
        with LOCK:
            if not self._finished and self.status == self.done_status:
                self._finished = True
                self.on_done()
            return self._finished

    @property
    def finished(self) -> bool:
        """Whether the operation is done (observing it, so it may complete now)."""
        return self.poll()

    def on_done(self) -> None:
        """Side effects of completion: the ``on_done`` callback, or a subclass's override."""
        if self._on_done is not None:
            self._on_done()
