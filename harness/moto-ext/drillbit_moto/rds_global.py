"""Aurora global database failover and switchover for moto's RDS.

moto 5.2.5 keeps every global cluster in the us-east-1 RDS backend (``RDSResponse.global_backend``),
whatever region it was created from, and marks members with ``DBCluster.is_writer``. This module adds
FailoverGlobalCluster and SwitchoverGlobalCluster on top of that, makes DescribeGlobalClusters honour
GlobalClusterIdentifier, and makes RemoveFromGlobalCluster / DeleteDBCluster / DeleteGlobalCluster
work for members in any region.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    RDSClientError,
)
from moto.rds.models import DBCluster, GlobalCluster, RDSBackend, rds_backends
from moto.rds.responses import RDSResponse
from moto.rds.utils import split_arn

from ._common import LOCK, TimedOperation, env_seconds, extend, register_duration

#: moto state-manager model of an in-flight failover or switchover.
FAILOVER_MODEL = "rds::global-cluster-failover"
#: Seconds a failover/switchover stays in progress (default 1).
FAILOVER_SECONDS_ENV = "DRILLBIT_MOTO_GLOBAL_FAILOVER_SECONDS"


class GlobalClusterNotFoundFault(RDSClientError):
    """The global cluster does not exist (HTTP 404, as in the RDS API)."""

    def __init__(self, global_cluster_identifier: str):
        super().__init__(
            "GlobalClusterNotFoundFault",
            f"Global cluster {global_cluster_identifier} not found.",
        )


class GlobalClusterStateFault(RDSClientError):
    """InvalidGlobalClusterStateFault with a message of our own (moto's class fixes the text)."""

    def __init__(self, message: str):
        super().__init__("InvalidGlobalClusterStateFault", message)


class GlobalClusterFailover(TimedOperation):
    """One FailoverGlobalCluster (``AllowDataLoss``) or switchover, from the writer to ``target``.

    While it runs the global cluster is ``failing-over`` / ``switching-over`` and carries a
    FailoverState; when it completes the target becomes the writer and the old primary a
    secondary (AWS re-adds the old primary as a secondary in both cases).
    """

    def __init__(
        self,
        global_cluster: GlobalCluster,
        source: DBCluster | None,
        target: DBCluster,
        allow_data_loss: bool,
    ):
        running = "failing-over" if allow_data_loss else "switching-over"
        super().__init__(FAILOVER_MODEL, running, "available")
        self.running_status = running
        self.global_cluster = global_cluster
        self.source = source
        self.target = target
        self.allow_data_loss = allow_data_loss

    def on_done(self) -> None:
        for member in self.global_cluster.members:
            member.is_writer = member is self.target

    @property
    def failover_state(self) -> dict[str, Any]:
        """The FailoverState element (its Status enum is pending | failing-over | cancelling)."""
        return {
            "Status": "failing-over",
            "FromDbClusterArn": self.source.db_cluster_arn if self.source else None,
            "ToDbClusterArn": self.target.db_cluster_arn,
            "IsDataLossAllowed": self.allow_data_loss,
        }


def _global_clusters(account_id: str) -> Any:
    """The account's global clusters: moto keeps them in the us-east-1 backend."""
    return rds_backends[account_id]["us-east-1"].global_clusters


def _pending(global_cluster: GlobalCluster) -> GlobalClusterFailover | None:
    """The global cluster's failover if one is still running (advancing it first)."""
    op = global_cluster.__dict__.get("_drillbit_failover")
    if op is None or op.finished:
        return None
    return op


class GlobalClusterExtension:
    """Attributes added to moto's ``GlobalCluster``."""

    @property
    def status(self) -> str:
        op = _pending(self)
        return op.running_status if op else self.__dict__.get("_status", "available")

    @status.setter
    def status(self, value: str) -> None:
        self.__dict__["_status"] = value

    @property
    def failover_state(self) -> dict[str, Any] | None:
        op = _pending(self)
        return op.failover_state if op else None

    @property
    def global_cluster_members(self) -> list[dict[str, Any]]:
        _pending(self)  # a completed failover moves the writer before members are listed
        members = self._orig_global_cluster_members
        for member in members:
            if not member["IsWriter"]:
                member["SynchronizationStatus"] = "connected"
        return members

    def member_for(self, cluster: DBCluster) -> bool:
        return any(m is cluster for m in self.members)


class DBClusterExtension:
    """Attributes added to moto's ``DBCluster``: its status shows a running global failover."""

    @property
    def status(self) -> str:
        for global_cluster in list(_global_clusters(self.backend.account_id).values()):
            op = _pending(global_cluster)
            if op and (self is op.target or self is op.source):
                return op.running_status
        return self._orig_status

    @status.setter
    def status(self, value: str) -> None:
        self._orig_status = value


class RDSBackendExtension:
    """Operations added to (or fixed in) moto's ``RDSBackend``."""

    def get_global_cluster(self, global_cluster_identifier: str) -> GlobalCluster:
        """The global cluster by identifier or ARN, from any region; GlobalClusterNotFoundFault if none."""
        identifier = global_cluster_identifier.split(":global-cluster:")[-1]
        clusters = _global_clusters(self.account_id)
        if identifier not in clusters:
            raise GlobalClusterNotFoundFault(global_cluster_identifier)
        return clusters[identifier]

    def _resolve_member(self, global_cluster: GlobalCluster, identifier: str) -> DBCluster:
        """A DB cluster given by ARN (any region) or identifier (this region, else a member's)."""
        if identifier.startswith("arn:"):
            region, _, _, cluster_id = split_arn(identifier)
            return rds_backends[self.account_id][region].describe_db_clusters(cluster_id)[0]
        if identifier.lower() in self.clusters:
            return self.clusters[identifier.lower()]
        for member in global_cluster.members:
            if member.db_cluster_identifier == identifier.lower():
                return member
        raise DBClusterNotFoundError(identifier)

    def describe_global_clusters(
        self, global_cluster_identifier: str | None = None
    ) -> list[GlobalCluster]:
        if global_cluster_identifier:
            return [self.get_global_cluster(global_cluster_identifier)]
        return list(_global_clusters(self.account_id).values())

    def failover_global_cluster(
        self,
        global_cluster_identifier: str,
        target_db_cluster_identifier: str,
        allow_data_loss: bool | None = None,
        switchover: bool | None = None,
    ) -> GlobalCluster:
        """FailoverGlobalCluster: a failover with AllowDataLoss, else (Switchover or neither) a switchover."""
        if allow_data_loss is not None and switchover is not None:
            raise InvalidParameterCombination(
                "AllowDataLoss and Switchover can't be specified together."
            )
        with LOCK:
            global_cluster = self.get_global_cluster(global_cluster_identifier)
            if _pending(global_cluster):
                raise GlobalClusterStateFault(
                    f"Global cluster {global_cluster.global_cluster_identifier} is in "
                    f"{global_cluster.status} state and can't be failed over or switched over now."
                )
            target = self._resolve_member(global_cluster, target_db_cluster_identifier)
            if not global_cluster.member_for(target):
                raise GlobalClusterStateFault(
                    f"DB cluster {target.db_cluster_arn} is not a member of global cluster "
                    f"{global_cluster.global_cluster_identifier}."
                )
            if target.is_writer:
                raise InvalidParameterValue(
                    f"DB cluster {target.db_cluster_arn} is already the primary cluster of global "
                    f"cluster {global_cluster.global_cluster_identifier}."
                )
            if target.__dict__.get("_status") == "stopped":
                raise InvalidDBClusterStateFault(
                    f"DbCluster {target.db_cluster_identifier} is stopped."
                )
            source = next((m for m in global_cluster.members if m.is_writer), None)
            op = GlobalClusterFailover(global_cluster, source, target, bool(allow_data_loss))
            global_cluster.__dict__["_drillbit_failover"] = op
            return global_cluster

    def switchover_global_cluster(
        self, global_cluster_identifier: str, target_db_cluster_identifier: str
    ) -> GlobalCluster:
        """SwitchoverGlobalCluster: a planned switch of the writer to the target, without data loss."""
        return self.failover_global_cluster(
            global_cluster_identifier, target_db_cluster_identifier, switchover=True
        )

    def remove_from_global_cluster(
        self, global_cluster_identifier: str, db_cluster_identifier: str
    ) -> GlobalCluster:
        """RemoveFromGlobalCluster for a member in any region; it becomes a standalone cluster."""
        with LOCK:
            global_cluster = self.get_global_cluster(global_cluster_identifier)
            cluster = self._resolve_member(global_cluster, db_cluster_identifier)
            if not global_cluster.member_for(cluster):
                raise DBClusterNotFoundError(
                    db_cluster_identifier,
                    f"DB cluster {db_cluster_identifier} is not a member of global cluster "
                    f"{global_cluster.global_cluster_identifier}.",
                )
            if _pending(global_cluster):
                raise GlobalClusterStateFault(
                    f"Global cluster {global_cluster.global_cluster_identifier} is {global_cluster.status}."
                )
            global_cluster.members[:] = [m for m in global_cluster.members if m is not cluster]
            cluster.global_cluster_identifier = None
            cluster.is_writer = False
            return global_cluster

    def delete_db_cluster(
        self, cluster_identifier: str, snapshot_name: str | None = None
    ) -> DBCluster:
        """As moto's, but a member in any region leaves its global cluster (moto: us-east-1 only)."""
        cluster = self.clusters.get(cluster_identifier)
        if cluster is not None and not cluster.members and not cluster.deletion_protection:
            with LOCK:
                for global_cluster in list(_global_clusters(self.account_id).values()):
                    if global_cluster.member_for(cluster):
                        global_cluster.members[:] = [
                            m for m in global_cluster.members if m is not cluster
                        ]
                cluster.global_cluster_identifier = None
        return self._orig_delete_db_cluster(cluster_identifier, snapshot_name)

    def delete_global_cluster(self, global_cluster_identifier: str) -> GlobalCluster:
        """As moto's, with GlobalClusterNotFoundFault instead of an internal error."""
        self.get_global_cluster(global_cluster_identifier)
        return self._orig_delete_global_cluster(
            global_cluster_identifier.split(":global-cluster:")[-1]
        )


class RDSResponseExtension:
    """Actions added to moto's ``RDSResponse``."""

    def failover_global_cluster(self) -> ActionResult:
        cluster = self.backend.failover_global_cluster(
            global_cluster_identifier=self.params["GlobalClusterIdentifier"],
            target_db_cluster_identifier=self.params["TargetDbClusterIdentifier"],
            allow_data_loss=self.params.get("AllowDataLoss"),
            switchover=self.params.get("Switchover"),
        )
        return ActionResult({"GlobalCluster": cluster})

    def switchover_global_cluster(self) -> ActionResult:
        cluster = self.backend.switchover_global_cluster(
            global_cluster_identifier=self.params["GlobalClusterIdentifier"],
            target_db_cluster_identifier=self.params["TargetDbClusterIdentifier"],
        )
        return ActionResult({"GlobalCluster": cluster})

    def describe_global_clusters(self) -> ActionResult:
        clusters = self.backend.describe_global_clusters(self.params.get("GlobalClusterIdentifier"))
        return ActionResult({"GlobalClusters": clusters})

    def remove_from_global_cluster(self) -> ActionResult:
        global_cluster = self.backend.remove_from_global_cluster(
            global_cluster_identifier=self.params["GlobalClusterIdentifier"],
            db_cluster_identifier=self.params["DbClusterIdentifier"],
        )
        return ActionResult({"GlobalCluster": global_cluster})


def install() -> None:
    """Graft the global-cluster operations onto moto's RDS classes."""
    register_duration(FAILOVER_MODEL, env_seconds(FAILOVER_SECONDS_ENV, 1.0))
    extend(GlobalCluster, GlobalClusterExtension)
    extend(DBCluster, DBClusterExtension)
    extend(RDSBackend, RDSBackendExtension)
    extend(RDSResponse, RDSResponseExtension)
