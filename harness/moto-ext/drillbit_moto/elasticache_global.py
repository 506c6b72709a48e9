"""ElastiCache global datastores (global replication groups) for moto's ElastiCache.

moto 5.2.5 models replication groups (Create/Describe/Modify/Delete) and accepts
``GlobalReplicationGroupId`` on CreateReplicationGroup, but has no global datastores. Like moto's RDS
global clusters, they are kept account-wide in the us-east-1 backend, whatever region serves the call.
"""

from __future__ import annotations

import hashlib
from typing import Any

from moto.core.common_models import BaseModel
from moto.core.responses import ActionResult
from moto.elasticache.exceptions import ElastiCacheException, InvalidParameterValueException
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup, elasticache_backends
from moto.elasticache.responses import ElastiCacheResponse
from moto.utilities.utils import get_partition

from ._common import LOCK, TimedOperation, env_seconds, extend, register_duration

#: moto state-manager model of a global datastore's create / failover.
GLOBAL_DATASTORE_MODEL = "elasticache::global-replication-group"
#: Seconds a global datastore stays ``creating`` / ``modifying`` (default 1).
GLOBAL_DATASTORE_SECONDS_ENV = "DRILLBIT_MOTO_ELASTICACHE_GLOBAL_SECONDS"

#: The prefix ElastiCache puts before the suffix of a global datastore id, by the region it is
#: created in ("Using the AWS CLI with global datastores", ElastiCache user guide).
REGION_PREFIXES = {
    "us-east-1": "ldgnf",
    "us-east-2": "fpkhr",
    "us-west-1": "virxk",
    "us-west-2": "sgaui",
    "ca-central-1": "bxodz",
    "ap-south-1": "erpgt",
    "ap-northeast-1": "quwsw",
    "ap-northeast-2": "lfqnh",
    "ap-northeast-3": "nlapn",
    "ap-southeast-1": "vlqxn",
    "ap-southeast-2": "vbgxd",
    "eu-central-1": "iudkw",
    "eu-west-1": "gxeiz",
    "eu-west-2": "okuqm",
    "eu-west-3": "fgjhi",
    "sa-east-1": "juxlw",
    "cn-north-1": "emvgo",
    "cn-northwest-1": "ckbem",
    "ap-east-1": "knjmp",
    "us-gov-west-1": "sgwui",
}


def region_prefix(region: str) -> str:
    """The global datastore id prefix of ``region`` (a stable made-up one where none is documented)."""
    if region in REGION_PREFIXES:
        return REGION_PREFIXES[region]
    digest = hashlib.sha256(region.encode()).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest[:5])


class GlobalReplicationGroupNotFoundFault(ElastiCacheException):
    code = "GlobalReplicationGroupNotFoundFault"

    def __init__(self, global_replication_group_id: str):
        super().__init__(f"Global replication group {global_replication_group_id} not found.")


class GlobalReplicationGroupAlreadyExistsFault(ElastiCacheException):
    code = "GlobalReplicationGroupAlreadyExistsFault"

    def __init__(self, global_replication_group_id: str):
        super().__init__(f"Global replication group {global_replication_group_id} already exists.")


class InvalidGlobalReplicationGroupStateFault(ElastiCacheException):
    code = "InvalidGlobalReplicationGroupState"


class InvalidReplicationGroupStateFault(ElastiCacheException):
    code = "InvalidReplicationGroupState"


class GlobalDatastoreOperation(TimedOperation):
    """A create (``creating``) or failover (``modifying``) of a global datastore, then ``available``."""

    def __init__(
        self,
        group: GlobalReplicationGroup,
        running: str,
        new_primary: tuple[str, str] | None = None,
    ):
        super().__init__(GLOBAL_DATASTORE_MODEL, running, "available")
        self.running_status = running
        self.group = group
        self.new_primary = new_primary

    def on_done(self) -> None:
        if self.new_primary is not None:
            self.group.set_primary(*self.new_primary)


class GlobalReplicationGroup(BaseModel):
    """A global datastore: one primary replication group and secondaries in other regions."""

    def __init__(
        self,
        account_id: str,
        region: str,
        group_id: str,
        description: str | None,
        primary: ReplicationGroup,
    ):
        self.account_id = account_id
        self.global_replication_group_id = group_id
        self.global_replication_group_description = description or ""
        self.arn = (
            f"arn:{get_partition(region)}:elasticache::{account_id}:"
            f"globalreplicationgroup:{self.global_replication_group_id}"
        )
        self.engine = primary.engine
        self.engine_version = primary.engine_version
        self.cache_node_type = primary.cache_node_type
        self.cluster_enabled = primary.cluster_enabled
        self.auth_token_enabled = primary.auth_token_enabled
        self.transit_encryption_enabled = primary.transit_encryption_enabled
        self.at_rest_encryption_enabled = primary.at_rest_encryption_enabled
        self.global_node_groups = [
            {
                "GlobalNodeGroupId": f"{self.global_replication_group_id}-{ng['node_group_id']}",
                "Slots": ng.get("slots", "0-16383"),
            }
            for ng in primary.node_groups
        ]
        # (region, replication group id) -> PRIMARY | SECONDARY
        self.roles: dict[tuple[str, str], str] = {}
        self.operation: GlobalDatastoreOperation | None = None
        self.deleted = False
        self.add_member(region, primary, "PRIMARY")
        self.operation = GlobalDatastoreOperation(self, "creating")

    def pending(self) -> GlobalDatastoreOperation | None:
        """The running create/failover, if any (advancing it first)."""
        with LOCK:
            op = self.operation
            if op is not None and op.finished:
                self.operation = op = None
            return op

    @property
    def status(self) -> str:
        if self.deleted:
            return "deleting"
        op = self.pending()
        return op.running_status if op else "available"

    def replication_group(self, region: str, group_id: str) -> ReplicationGroup | None:
        return elasticache_backends[self.account_id][region].replication_groups.get(group_id)

    def add_member(self, region: str, group: ReplicationGroup, role: str) -> None:
        self.roles[(region, group.replication_group_id)] = role
        group.global_replication_group_id = self.global_replication_group_id
        group.global_replication_group_member_role = role

    def remove_member(self, region: str, group_id: str) -> None:
        self.roles.pop((region, group_id), None)
        group = self.replication_group(region, group_id)
        if group is not None:
            group.global_replication_group_id = ""
            group.global_replication_group_member_role = None

    def set_primary(self, region: str, group_id: str) -> None:
        for key in self.roles:
            role = "PRIMARY" if key == (region, group_id) else "SECONDARY"
            self.roles[key] = role
            group = self.replication_group(*key)
            if group is not None:
                group.global_replication_group_member_role = role

    @property
    def primary(self) -> tuple[str, str]:
        self.pending()
        return next(key for key, role in self.roles.items() if role == "PRIMARY")

    @property
    def members(self) -> list[dict[str, Any]]:
        """GlobalReplicationGroupMember elements."""
        self.pending()
        members = []
        for (region, group_id), role in self.roles.items():
            group = self.replication_group(region, group_id)
            members.append(
                {
                    "ReplicationGroupId": group_id,
                    "ReplicationGroupRegion": region,
                    "Role": role,
                    "AutomaticFailover": group.automatic_failover if group else "disabled",
                    "Status": "associated",
                }
            )
        return members


class Described:
    """A global datastore as one response shows it: Members only with ShowMemberInfo, as in AWS."""

    def __init__(self, group: GlobalReplicationGroup, show_members: bool):
        self._group = group
        self.status = group.status
        self.members = group.members if show_members else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)


def _global_groups(account_id: str) -> dict[str, GlobalReplicationGroup]:
    """The account's global datastores, kept (like RDS global clusters) in the us-east-1 backend."""
    return elasticache_backends[account_id]["us-east-1"].__dict__.setdefault(
        "_global_replication_groups", {}
    )


def _global_group_of(group: ReplicationGroup, account_id: str) -> GlobalReplicationGroup | None:
    gid = group.__dict__.get("global_replication_group_id")
    return _global_groups(account_id).get(gid) if gid else None


class ReplicationGroupExtension:
    """Attributes added to moto's ``ReplicationGroup``."""

    @property
    def status(self) -> str:
        account_id = self.arn.split(":")[4]
        global_group = _global_group_of(self, account_id)
        op = global_group.pending() if global_group else None
        if (
            op is not None
            and op.running_status == "modifying"
            and self.__dict__.get("_status") == "available"
        ):
            return "modifying"
        return self.__dict__.get("_status", "available")

    @status.setter
    def status(self, value: str) -> None:
        self.__dict__["_status"] = value

    @property
    def global_replication_group_info(self) -> dict[str, str] | None:
        if not self.__dict__.get("global_replication_group_id"):
            return None
        account_id = self.arn.split(":")[4]
        global_group = _global_group_of(self, account_id)
        if global_group is not None:
            global_group.pending()  # a completed failover updates the role first
        return {
            "GlobalReplicationGroupId": self.global_replication_group_id,
            "GlobalReplicationGroupMemberRole": self.global_replication_group_member_role,
        }


class ElastiCacheBackendExtension:
    """Operations added to (or wrapped in) moto's ``ElastiCacheBackend``."""

    def get_global_replication_group(
        self, global_replication_group_id: str
    ) -> GlobalReplicationGroup:
        group = _global_groups(self.account_id).get(global_replication_group_id)
        if group is None or group.deleted:
            raise GlobalReplicationGroupNotFoundFault(global_replication_group_id)
        return group

    def _available(self, group: GlobalReplicationGroup) -> None:
        if group.status != "available":
            raise InvalidGlobalReplicationGroupStateFault(
                f"Global replication group {group.global_replication_group_id} is {group.status}, "
                "not available."
            )

    def create_global_replication_group(
        self, suffix: str, description: str | None, primary_replication_group_id: str
    ) -> GlobalReplicationGroup:
        primary = self.describe_replication_groups(primary_replication_group_id)[0]
        with LOCK:
            if primary.__dict__.get("global_replication_group_id"):
                raise InvalidReplicationGroupStateFault(
                    f"Replication group {primary_replication_group_id} is already a member of global "
                    f"replication group {primary.global_replication_group_id}."
                )
            group_id = f"{region_prefix(self.region_name)}-{suffix}"
            groups = _global_groups(self.account_id)
            if group_id in groups:
                raise GlobalReplicationGroupAlreadyExistsFault(group_id)
            groups[group_id] = GlobalReplicationGroup(
                self.account_id, self.region_name, group_id, description, primary
            )
            return groups[group_id]

    def describe_global_replication_groups(
        self, global_replication_group_id: str | None
    ) -> list[GlobalReplicationGroup]:
        if global_replication_group_id:
            return [self.get_global_replication_group(global_replication_group_id)]
        return [g for g in _global_groups(self.account_id).values() if not g.deleted]

    def create_replication_group(
        self, replication_group_id: str, *args: Any, **kwargs: Any
    ) -> ReplicationGroup:
        """As moto's; with GlobalReplicationGroupId, a secondary joins that global datastore."""
        global_id = kwargs.get("global_replication_group_id")
        if not global_id:
            return self._orig_create_replication_group(replication_group_id, *args, **kwargs)
        with LOCK:
            global_group = self.get_global_replication_group(global_id)
            self._available(global_group)
            if any(region == self.region_name for region, _ in global_group.roles):
                raise InvalidParameterValueException(
                    f"Global replication group {global_id} already has a member in {self.region_name}."
                )
            for name in ("engine", "engine_version", "cache_node_type"):
                if not kwargs.get(name):
                    kwargs[name] = getattr(global_group, name)
            group = self._orig_create_replication_group(replication_group_id, *args, **kwargs)
            global_group.add_member(self.region_name, group, "SECONDARY")
            return group

    def delete_replication_group(
        self, replication_group_id: str, retain_primary_cluster: bool | None
    ) -> ReplicationGroup:
        """As moto's, refused for a member of a global datastore (disassociate it first)."""
        group = self.replication_groups.get(replication_group_id)
        if group is not None and group.__dict__.get("global_replication_group_id"):
            raise InvalidReplicationGroupStateFault(
                f"Replication group {replication_group_id} is a member of global replication group "
                f"{group.global_replication_group_id}; disassociate it first."
            )
        return self._orig_delete_replication_group(replication_group_id, retain_primary_cluster)

    def failover_global_replication_group(
        self,
        global_replication_group_id: str,
        primary_region: str,
        primary_replication_group_id: str,
    ) -> GlobalReplicationGroup:
        """Promote the named secondary (region, replication group); the others become secondaries."""
        with LOCK:
            group = self.get_global_replication_group(global_replication_group_id)
            self._available(group)
            key = (primary_region, primary_replication_group_id)
            if key not in group.roles:
                raise InvalidParameterValueException(
                    f"Replication group {primary_replication_group_id} in {primary_region} is not a member "
                    f"of global replication group {global_replication_group_id}."
                )
            if group.roles[key] == "PRIMARY":
                raise InvalidParameterValueException(
                    f"Replication group {primary_replication_group_id} is already the primary of "
                    f"global replication group {global_replication_group_id}."
                )
            group.operation = GlobalDatastoreOperation(group, "modifying", new_primary=key)
            return group

    def disassociate_global_replication_group(
        self,
        global_replication_group_id: str,
        replication_group_id: str,
        replication_group_region: str,
    ) -> GlobalReplicationGroup:
        """Detach a secondary: it stays as a standalone replication group in its region."""
        with LOCK:
            group = self.get_global_replication_group(global_replication_group_id)
            self._available(group)
            key = (replication_group_region, replication_group_id)
            if key not in group.roles:
                raise InvalidParameterValueException(
                    f"Replication group {replication_group_id} in {replication_group_region} is not a member "
                    f"of global replication group {global_replication_group_id}."
                )
            if group.roles[key] == "PRIMARY":
                raise InvalidParameterValueException(
                    "The primary replication group can't be disassociated; "
                    "delete the global replication group instead."
                )
            group.remove_member(*key)
            return group

    def delete_global_replication_group(
        self, global_replication_group_id: str, retain_primary_replication_group: bool
    ) -> GlobalReplicationGroup:
        """Delete a global datastore that has only its primary left; the primary stays, standalone."""
        with LOCK:
            group = self.get_global_replication_group(global_replication_group_id)
            if len(group.roles) > 1:
                raise InvalidGlobalReplicationGroupStateFault(
                    f"Global replication group {global_replication_group_id} still has secondary members; "
                    "disassociate them first."
                )
            for key in list(group.roles):
                group.remove_member(*key)
            group.deleted = True
            del _global_groups(self.account_id)[global_replication_group_id]
            return group


class ElastiCacheResponseExtension:
    """Actions added to moto's ``ElastiCacheResponse``."""

    def create_global_replication_group(self) -> ActionResult:
        group = self.elasticache_backend.create_global_replication_group(
            suffix=self._get_param("GlobalReplicationGroupIdSuffix"),
            description=self._get_param("GlobalReplicationGroupDescription"),
            primary_replication_group_id=self._get_param("PrimaryReplicationGroupId"),
        )
        return ActionResult({"GlobalReplicationGroup": Described(group, True)})

    def describe_global_replication_groups(self) -> ActionResult:
        groups = self.elasticache_backend.describe_global_replication_groups(
            self._get_param("GlobalReplicationGroupId")
        )
        show = bool(self._get_bool_param("ShowMemberInfo", False))
        return ActionResult({"GlobalReplicationGroups": [Described(g, show) for g in groups]})

    def failover_global_replication_group(self) -> ActionResult:
        group = self.elasticache_backend.failover_global_replication_group(
            self._get_param("GlobalReplicationGroupId"),
            self._get_param("PrimaryRegion"),
            self._get_param("PrimaryReplicationGroupId"),
        )
        return ActionResult({"GlobalReplicationGroup": Described(group, True)})

    def disassociate_global_replication_group(self) -> ActionResult:
        group = self.elasticache_backend.disassociate_global_replication_group(
            self._get_param("GlobalReplicationGroupId"),
            self._get_param("ReplicationGroupId"),
            self._get_param("ReplicationGroupRegion"),
        )
        return ActionResult({"GlobalReplicationGroup": Described(group, True)})

    def delete_global_replication_group(self) -> ActionResult:
        group = self.elasticache_backend.delete_global_replication_group(
            self._get_param("GlobalReplicationGroupId"),
            self._get_bool_param("RetainPrimaryReplicationGroup", True),
        )
        return ActionResult({"GlobalReplicationGroup": Described(group, False)})


def install() -> None:
    """Graft global datastores onto moto's ElastiCache classes."""
    register_duration(GLOBAL_DATASTORE_MODEL, env_seconds(GLOBAL_DATASTORE_SECONDS_ENV, 1.0))
    extend(ReplicationGroup, ReplicationGroupExtension)
    extend(ElastiCacheBackend, ElastiCacheBackendExtension)
    extend(ElastiCacheResponse, ElastiCacheResponseExtension)
