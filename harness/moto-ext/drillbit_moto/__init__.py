"""drillbit's extension of the pinned moto server: the DR operations moto 5.2.5 lacks.

`install()` grafts new operations onto moto's own backend, model and response classes (moto
dispatches an action to the snake_case method of a service's response class), so the server keeps
moto's routing, serialisation, errors and state; nothing here is a second emulator or a proxy.

- `rds_global`: FailoverGlobalCluster, SwitchoverGlobalCluster (+ cross-region fixes).
- `dynamodb_global`: global tables version 2019.11.21 (UpdateTable ReplicaUpdates, lagged replication).
- `backup_jobs`: backup selections, backup/copy/restore jobs and recovery points for RDS DB instances.
- `elasticache_global`: global datastores (global replication groups).
"""

from __future__ import annotations

__all__ = ["install"]

_installed = False


def install() -> None:
    """Apply the extension to moto (idempotent). Call before moto's server builds its apps."""
    global _installed
    if _installed:
        return
    from . import backup_jobs, dynamodb_global, elasticache_global, rds_global

    rds_global.install()
    dynamodb_global.install()
    backup_jobs.install()
    elasticache_global.install()
    _installed = True
