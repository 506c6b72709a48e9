"""AWS Backup jobs and recovery points for RDS DB instances, for moto's Backup.

moto 5.2.5 has backup plans and vaults only. This module adds backup selections, backup / copy /
restore jobs and recovery points. A recovery point of an RDS DB instance is, as in AWS, an RDS
snapshot named ``awsbackup:job-<id>`` (a copy: ``awsbackup:copyjob-<id>``, in the destination
region), made with moto's own RDS backend; a restore is moto's RestoreDBInstanceFromDBSnapshot.

Jobs run for ``DRILLBIT_MOTO_BACKUP_JOB_SECONDS`` (default 1) as moto managed states
(``backup::backup-job``, ``backup::copy-job``, ``backup::restore-job``). The RDS work happens when a
job starts; its recovery point (or restored resource ARN) is published when the job completes, which
any later Backup call in the account observes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from moto.backup import urls as backup_urls
from moto.backup.exceptions import (
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.backup.models import BackupBackend, Vault, backup_backends
from moto.backup.responses import BackupResponse
from moto.core.common_models import BaseModel
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow
from moto.moto_api._internal import mock_random
from moto.rds.exceptions import DBSnapshotNotFoundFault
from moto.rds.models import RDSBackend, rds_backends
from moto.rds.utils import split_arn

from ._common import LOCK, TimedOperation, env_seconds, extend, register_duration

#: Seconds a backup, copy or restore job runs (default 1).
JOB_SECONDS_ENV = "DRILLBIT_MOTO_BACKUP_JOB_SECONDS"
BACKUP_JOB, COPY_JOB, RESTORE_JOB = "backup::backup-job", "backup::copy-job", "backup::restore-job"

#: AWS Backup restore metadata keys for RDS, and the moto restore argument each one sets.
RDS_RESTORE_METADATA: dict[str, tuple[str, type]] = {
    "DBInstanceIdentifier": ("db_instance_identifier", str),
    "DBInstanceClass": ("db_instance_class", str),
    "AvailabilityZone": ("availability_zone", str),
    "DBSubnetGroupName": ("db_subnet_group_name", str),
    "MultiAZ": ("multi_az", bool),
    "Port": ("port", int),
    "PubliclyAccessible": ("publicly_accessible", bool),
    "StorageType": ("storage_type", str),
    "DeletionProtection": ("deletion_protection", bool),
}


def _vault_arn(arn: str) -> tuple[str, str, str]:
    """(region, account, vault name) of ``arn:aws:backup:<region>:<account>:backup-vault:<name>``."""
    parts = arn.split(":", 6)
    if len(parts) != 7 or parts[2] != "backup" or parts[5] != "backup-vault":
        raise InvalidParameterValueException(msg=f"Invalid backup vault ARN: {arn}")
    return parts[3], parts[4], parts[6]


def _rds_instance(arn: str) -> tuple[str, str]:
    """(region, DB instance id) of an RDS DB instance ARN, the one resource type modelled here."""
    try:
        region, _, resource_type, instance_id = split_arn(arn)
    except ValueError:
        raise InvalidParameterValueException(msg=f"Invalid resource ARN: {arn}") from None
    if not arn.startswith("arn:aws") or ":rds:" not in arn or resource_type != "db":
        raise InvalidParameterValueException(
            msg=f"Resource type of {arn} is not supported here; only RDS DB instances are modelled."
        )
    return region, instance_id


def _calculated_lifecycle(
    lifecycle: dict[str, Any] | None, start: datetime
) -> dict[str, datetime] | None:
    """CalculatedLifecycle: the Lifecycle's day counts from the recovery point's creation."""
    if not lifecycle:
        return None
    calculated = {}
    if lifecycle.get("MoveToColdStorageAfterDays"):
        calculated["MoveToColdStorageAt"] = start + timedelta(
            days=int(lifecycle["MoveToColdStorageAfterDays"])
        )
    if lifecycle.get("DeleteAfterDays"):
        calculated["DeleteAt"] = start + timedelta(days=int(lifecycle["DeleteAfterDays"]))
    return calculated or None


class BackupSelection(BaseModel):
    """A backup plan's resource assignment (CreateBackupSelection). It is stored, not scheduled."""

    def __init__(self, plan_id: str, selection: dict[str, Any], creator_request_id: str | None):
        self.selection_id = str(mock_random.uuid4())
        self.backup_plan_id = plan_id
        self.backup_selection = selection
        self.selection_name = selection.get("SelectionName")
        self.iam_role_arn = selection.get("IamRoleArn")
        self.creator_request_id = creator_request_id
        self.creation_date = utcnow()


class RecoveryPoint(BaseModel):
    """A recovery point in a vault: here always an RDS DB snapshot, ``snapshot_region``/``snapshot_id``."""

    def __init__(
        self,
        vault: Vault,
        arn: str,
        resource_arn: str,
        resource_name: str,
        iam_role_arn: str | None,
        lifecycle: dict[str, Any] | None,
        size_in_bytes: int,
        encrypted: bool,
        source_vault_arn: str | None = None,
        started: datetime | None = None,
    ):
        self.recovery_point_arn = arn
        self.backup_vault_name = vault.backup_vault_name
        self.backup_vault_arn = vault.backup_vault_arn
        self.source_backup_vault_arn = source_vault_arn
        self.resource_arn = resource_arn
        self.resource_type = "RDS"
        self.resource_name = resource_name
        self.iam_role_arn = iam_role_arn
        self.status = "COMPLETED"
        self.completion_date = utcnow()
        self.creation_date = started or self.completion_date
        self.initiation_date = self.creation_date
        self.lifecycle = lifecycle
        self.backup_size_in_bytes = size_in_bytes
        self.is_encrypted = encrypted
        self.encryption_key_arn = vault.encryption_key_arn
        self.storage_class = "WARM"
        self.vault_type = "BACKUP_VAULT"
        self.is_parent = False
        self.snapshot_region, _, _, self.snapshot_id = split_arn(arn)

    @property
    def calculated_lifecycle(self) -> dict[str, datetime] | None:
        return _calculated_lifecycle(self.lifecycle, self.creation_date)


class _Job(BaseModel):
    """What backup, copy and restore jobs share: ids, timestamps, progress, failure."""

    def __init__(self, backend: BackupBackend, model_name: str, iam_role_arn: str | None):
        self.progress = TimedOperation(model_name, "RUNNING", "COMPLETED", on_done=self._complete)
        self.backend = backend
        self.account_id = backend.account_id
        self.iam_role_arn = iam_role_arn
        self.creation_date = utcnow()
        self.completion_date: datetime | None = None
        self.status_message: str | None = None
        self.failed = False
        self.is_parent = False

    def fail(self, message: str) -> None:
        self.failed, self.status_message = True, message

    def advance(self) -> None:
        """Count an observation (for moto's "manual" progression)."""
        self.progress.advance()

    @property
    def state(self) -> str:
        """RUNNING, then COMPLETED (or FAILED) once the job's time is up."""
        done = self.progress.finished
        if self.failed:
            return "FAILED"
        return "COMPLETED" if done else "RUNNING"

    @property
    def percent_done(self) -> str:
        return "0.0" if self.state == "RUNNING" else "100.0"

    def _complete(self) -> None:
        self.completion_date = utcnow()
        if not self.failed:
            self.publish()

    def publish(self) -> None:
        """Make the job's result visible (subclasses)."""


class BackupJob(_Job):
    """StartBackupJob of an RDS DB instance: takes snapshot ``awsbackup:job-<id>`` at once."""

    def __init__(
        self,
        backend: BackupBackend,
        vault: Vault,
        resource_arn: str,
        iam_role_arn: str,
        lifecycle: dict | None,
    ):
        super().__init__(backend, BACKUP_JOB, iam_role_arn)
        self.backup_job_id = str(mock_random.uuid4()).upper()
        self.vault = vault
        self.backup_vault_name = vault.backup_vault_name
        self.backup_vault_arn = vault.backup_vault_arn
        self.resource_arn = resource_arn
        self.resource_type = "RDS"
        self.recovery_point_lifecycle = lifecycle
        self.initiation_date = self.creation_date
        self.start_by = self.creation_date + timedelta(hours=8)
        region, self.resource_name = _rds_instance(resource_arn)
        self.rds = rds_backends[backend.account_id][region]
        snapshot_id = f"awsbackup:job-{self.backup_job_id.lower()}"
        self.recovery_point_arn = (
            f"arn:aws:rds:{region}:{backend.account_id}:snapshot:{snapshot_id}"
        )
        self.backup_size_in_bytes = 0
        self.encrypted = False
        try:
            snapshot = self.rds.create_db_snapshot(
                self.resource_name, snapshot_id, snapshot_type="awsbackup"
            )
            self.backup_size_in_bytes = int(snapshot.allocated_storage or 0) * 1024**3
            self.encrypted = bool(snapshot.encrypted)
        except ServiceException as e:
            self.fail(f"Backup of {resource_arn} failed: {e.message}")

    def publish(self) -> None:
        self.backend.add_recovery_point(
            RecoveryPoint(
                self.vault,
                self.recovery_point_arn,
                self.resource_arn,
                self.resource_name,
                self.iam_role_arn,
                self.recovery_point_lifecycle,
                self.backup_size_in_bytes,
                self.encrypted,
                started=self.creation_date,
            )
        )


class CopyJob(_Job):
    """StartCopyJob: copies the snapshot into the destination vault's region at once."""

    def __init__(
        self,
        backend: BackupBackend,
        source: RecoveryPoint,
        destination: Vault,
        iam_role_arn: str,
        lifecycle: dict | None,
    ):
        super().__init__(backend, COPY_JOB, iam_role_arn)
        self.copy_job_id = str(mock_random.uuid4()).upper()
        self.source = source
        self.destination = destination
        self.source_backup_vault_arn = source.backup_vault_arn
        self.source_recovery_point_arn = source.recovery_point_arn
        self.destination_backup_vault_arn = destination.backup_vault_arn
        self.destination_recovery_point_lifecycle = lifecycle or source.lifecycle
        self.resource_arn = source.resource_arn
        self.resource_type = source.resource_type
        self.resource_name = source.resource_name
        self.backup_size_in_bytes = source.backup_size_in_bytes
        region = destination.backup_vault_arn.split(":")[3]
        snapshot_id = f"awsbackup:copyjob-{self.copy_job_id.lower()}"
        self.destination_recovery_point_arn = (
            f"arn:aws:rds:{region}:{backend.account_id}:snapshot:{snapshot_id}"
        )
        self.destination_backend = backup_backends[backend.account_id][region]
        try:
            copied = rds_backends[backend.account_id][region].copy_db_snapshot(
                source.recovery_point_arn, snapshot_id
            )
            copied.snapshot_type = "awsbackup"
        except ServiceException as e:
            self.fail(f"Copy of {source.recovery_point_arn} failed: {e.message}")

    def publish(self) -> None:
        self.destination_backend.add_recovery_point(
            RecoveryPoint(
                self.destination,
                self.destination_recovery_point_arn,
                self.resource_arn,
                self.resource_name,
                self.iam_role_arn,
                self.destination_recovery_point_lifecycle,
                self.backup_size_in_bytes,
                self.source.is_encrypted,
                source_vault_arn=self.source_backup_vault_arn,
            )
        )


class RestoreJob(_Job):
    """StartRestoreJob of an RDS recovery point: RestoreDBInstanceFromDBSnapshot at once."""

    def __init__(
        self,
        backend: BackupBackend,
        point: RecoveryPoint,
        iam_role_arn: str | None,
        metadata: dict[str, str],
    ):
        super().__init__(backend, RESTORE_JOB, iam_role_arn)
        self.restore_job_id = str(mock_random.uuid4()).upper()
        self.recovery_point_arn = point.recovery_point_arn
        self.backup_vault_arn = point.backup_vault_arn
        self.source_resource_arn = point.resource_arn
        self.resource_type = point.resource_type
        self.recovery_point_creation_date = point.creation_date
        self.backup_size_in_bytes = point.backup_size_in_bytes
        overrides: dict[str, Any] = {}
        for key, value in (metadata or {}).items():
            if key in RDS_RESTORE_METADATA and value not in (None, ""):
                name, kind = RDS_RESTORE_METADATA[key]
                try:
                    overrides[name] = str(value).lower() == "true" if kind is bool else kind(value)
                except ValueError:
                    raise InvalidParameterValueException(
                        msg=f"Invalid value for restore metadata {key}: {value}"
                    ) from None
        # AWS requires DBInstanceIdentifier; without it, a deterministic name (63 characters at most)
        suffix = f"-restored-{self.restore_job_id[:8].lower()}"
        overrides.setdefault(
            "db_instance_identifier", point.resource_name[: 63 - len(suffix)] + suffix
        )
        self._created_arn: str | None = None
        try:
            rds = rds_backends[backend.account_id][point.snapshot_region]
            instance = rds.restore_db_instance_from_db_snapshot(point.snapshot_id, overrides)
            self._created_arn = instance.db_instance_arn
        except ServiceException as e:
            self.fail(f"Restore of {point.recovery_point_arn} failed: {e.message}")

    @property
    def status(self) -> str:
        """DescribeRestoreJob calls the job's state ``Status``."""
        return self.state

    @property
    def created_resource_arn(self) -> str | None:
        return self._created_arn if self.state == "COMPLETED" else None

    @property
    def expected_completion_time_minutes(self) -> int:
        return 1


class BackupBackendExtension:
    """Operations added to moto's ``BackupBackend``."""

    @property
    def backup_selections(self) -> dict[str, dict[str, BackupSelection]]:
        return self.__dict__.setdefault("_backup_selections", {})

    @property
    def recovery_points(self) -> dict[str, dict[str, RecoveryPoint]]:
        """Recovery points by vault name, then ARN."""
        return self.__dict__.setdefault("_recovery_points", {})

    @property
    def backup_jobs(self) -> dict[str, BackupJob]:
        return self.__dict__.setdefault("_backup_jobs", {})

    @property
    def copy_jobs(self) -> dict[str, CopyJob]:
        return self.__dict__.setdefault("_copy_jobs", {})

    @property
    def restore_jobs(self) -> dict[str, RestoreJob]:
        return self.__dict__.setdefault("_restore_jobs", {})

    def settle_jobs(self) -> None:
        """Complete the account's jobs (in every region) that are due: a copy lands in another region."""
        for backend in list(backup_backends[self.account_id].values()):
            for jobs in (backend.backup_jobs, backend.copy_jobs, backend.restore_jobs):
                for job in list(jobs.values()):
                    job.progress.poll()

    def _plan(self, plan_id: str) -> Any:
        plan = self.plans.get(plan_id)
        if plan is None or plan.deletion_date is not None:
            raise ResourceNotFoundException(msg=f"Backup plan {plan_id} not found")
        return plan

    def create_backup_selection(
        self, plan_id: str, selection: dict[str, Any], creator_request_id: str | None
    ) -> BackupSelection:
        self._plan(plan_id)
        if not selection or not selection.get("SelectionName") or not selection.get("IamRoleArn"):
            raise InvalidParameterValueException(
                msg="BackupSelection needs SelectionName and IamRoleArn"
            )
        entry = BackupSelection(plan_id, selection, creator_request_id)
        self.backup_selections.setdefault(plan_id, {})[entry.selection_id] = entry
        return entry

    def get_backup_selection(self, plan_id: str, selection_id: str) -> BackupSelection:
        self._plan(plan_id)
        selection = self.backup_selections.get(plan_id, {}).get(selection_id)
        if selection is None:
            raise ResourceNotFoundException(msg=f"Backup selection {selection_id} not found")
        return selection

    def list_backup_selections(self, plan_id: str) -> list[BackupSelection]:
        self._plan(plan_id)
        return list(self.backup_selections.get(plan_id, {}).values())

    def delete_backup_selection(self, plan_id: str, selection_id: str) -> None:
        self.get_backup_selection(plan_id, selection_id)
        del self.backup_selections[plan_id][selection_id]

    def add_recovery_point(self, point: RecoveryPoint) -> None:
        with LOCK:
            self.recovery_points.setdefault(point.backup_vault_name, {})[
                point.recovery_point_arn
            ] = point
            vault = self.vaults.get(point.backup_vault_name)
            if vault is not None:
                vault.num_of_recovery_points = len(self.recovery_points[point.backup_vault_name])

    def start_backup_job(
        self,
        vault_name: str,
        resource_arn: str,
        iam_role_arn: str,
        lifecycle: dict[str, Any] | None,
    ) -> BackupJob:
        vault = self.describe_backup_vault(vault_name)
        with LOCK:
            job = BackupJob(self, vault, resource_arn, iam_role_arn, lifecycle)
            self.backup_jobs[job.backup_job_id] = job
        return job

    def describe_backup_job(self, job_id: str) -> BackupJob:
        self.settle_jobs()
        if job_id not in self.backup_jobs:
            raise ResourceNotFoundException(msg=f"Backup job {job_id} not found")
        job = self.backup_jobs[job_id]
        job.advance()
        return job

    def list_backup_jobs(self, filters: dict[str, str | None]) -> list[BackupJob]:
        self.settle_jobs()
        return [
            job
            for job in self.backup_jobs.values()
            if filters.get("resourceArn") in (None, job.resource_arn)
            and filters.get("state") in (None, job.state)
            and filters.get("backupVaultName") in (None, job.backup_vault_name)
            and filters.get("resourceType") in (None, job.resource_type)
        ]

    def get_recovery_point(self, vault_name: str, arn: str) -> RecoveryPoint:
        self.settle_jobs()
        self.describe_backup_vault(vault_name)
        point = self.recovery_points.get(vault_name, {}).get(arn)
        if point is None:
            raise ResourceNotFoundException(
                msg=f"Recovery point {arn} not found in vault {vault_name}"
            )
        return point

    def find_recovery_point(self, arn: str) -> RecoveryPoint:
        self.settle_jobs()
        for points in self.recovery_points.values():
            if arn in points:
                return points[arn]
        raise ResourceNotFoundException(msg=f"Recovery point {arn} not found")

    def list_recovery_points_by_backup_vault(
        self, vault_name: str, filters: dict[str, str | None]
    ) -> list[RecoveryPoint]:
        self.settle_jobs()
        self.describe_backup_vault(vault_name)
        return [
            point
            for point in self.recovery_points.get(vault_name, {}).values()
            if filters.get("resourceArn") in (None, point.resource_arn)
            and filters.get("resourceType") in (None, point.resource_type)
        ]

    def list_recovery_points_by_resource(self, resource_arn: str) -> list[RecoveryPoint]:
        self.settle_jobs()
        return [
            p
            for points in self.recovery_points.values()
            for p in points.values()
            if p.resource_arn == resource_arn
        ]

    def delete_recovery_point(self, vault_name: str, arn: str) -> None:
        """DeleteRecoveryPoint: removes it from the vault and deletes its RDS snapshot."""
        point = self.get_recovery_point(vault_name, arn)
        with LOCK:
            rds = rds_backends[self.account_id][point.snapshot_region]
            if point.snapshot_id in rds.database_snapshots:
                rds.delete_db_snapshot(point.snapshot_id)
            del self.recovery_points[vault_name][arn]
            self.vaults[vault_name].num_of_recovery_points = len(self.recovery_points[vault_name])

    def update_recovery_point_lifecycle(
        self, vault_name: str, arn: str, lifecycle: dict[str, Any] | None
    ) -> RecoveryPoint:
        point = self.get_recovery_point(vault_name, arn)
        point.lifecycle = lifecycle
        return point

    def start_copy_job(
        self,
        recovery_point_arn: str,
        source_vault_name: str,
        destination_vault_arn: str,
        iam_role_arn: str,
        lifecycle: dict[str, Any] | None,
    ) -> CopyJob:
        source = self.get_recovery_point(source_vault_name, recovery_point_arn)
        region, _, name = _vault_arn(destination_vault_arn)
        destination = backup_backends[self.account_id][region].vaults.get(name)
        if destination is None:
            raise ResourceNotFoundException(msg=f"Backup vault {destination_vault_arn} not found")
        with LOCK:
            job = CopyJob(self, source, destination, iam_role_arn, lifecycle)
            self.copy_jobs[job.copy_job_id] = job
        return job

    def describe_copy_job(self, job_id: str) -> CopyJob:
        self.settle_jobs()
        if job_id not in self.copy_jobs:
            raise ResourceNotFoundException(msg=f"Copy job {job_id} not found")
        job = self.copy_jobs[job_id]
        job.advance()
        return job

    def list_copy_jobs(self, filters: dict[str, str | None]) -> list[CopyJob]:
        self.settle_jobs()
        return [
            job
            for job in self.copy_jobs.values()
            if filters.get("resourceArn") in (None, job.resource_arn)
            and filters.get("state") in (None, job.state)
            and filters.get("destinationVaultArn") in (None, job.destination_backup_vault_arn)
            and filters.get("sourceRecoveryPointArn") in (None, job.source_recovery_point_arn)
        ]

    def start_restore_job(
        self, recovery_point_arn: str, iam_role_arn: str | None, metadata: dict[str, str] | None
    ) -> RestoreJob:
        point = self.find_recovery_point(recovery_point_arn)
        if point.status != "COMPLETED":
            raise InvalidRequestException(
                msg=f"Recovery point {recovery_point_arn} is {point.status}"
            )
        with LOCK:
            job = RestoreJob(self, point, iam_role_arn, metadata or {})
            self.restore_jobs[job.restore_job_id] = job
        return job

    def describe_restore_job(self, job_id: str) -> RestoreJob:
        self.settle_jobs()
        if job_id not in self.restore_jobs:
            raise ResourceNotFoundException(msg=f"Restore job {job_id} not found")
        job = self.restore_jobs[job_id]
        job.advance()
        return job

    def list_restore_jobs(self, filters: dict[str, str | None]) -> list[RestoreJob]:
        self.settle_jobs()
        return [
            job
            for job in self.restore_jobs.values()
            if filters.get("status") in (None, job.state)
            and filters.get("resourceType") in (None, job.resource_type)
        ]

    def get_recovery_point_restore_metadata(self, vault_name: str, arn: str) -> dict[str, str]:
        """The RDS restore metadata of the snapshot behind a recovery point."""
        point = self.get_recovery_point(vault_name, arn)
        snapshot = rds_backends[self.account_id][point.snapshot_region].get_db_snapshot(
            point.snapshot_id
        )
        db = snapshot.database
        return {
            "DBInstanceIdentifier": snapshot.db_instance_identifier,
            "DBInstanceClass": str(db.db_instance_class),
            "Engine": str(snapshot.engine),
            "Port": str(snapshot.port),
            "MultiAZ": str(bool(db.multi_az)).lower(),
        }


class RDSBackendSnapshotExtension:
    """moto's RDS lists automated and manual snapshots by default, as AWS does; a lookup by an
    explicit identifier (e.g. RestoreDBInstanceFromDBSnapshot) must also find the ``awsbackup``
    snapshots AWS Backup makes."""

    def describe_db_snapshots(
        self,
        db_instance_identifier: str | None,
        db_snapshot_identifier: str | None = None,
        snapshot_type: str | None = None,
        filters: dict[str, Any] | None = None,
    ) -> list[Any]:
        try:
            return self._orig_describe_db_snapshots(
                db_instance_identifier, db_snapshot_identifier, snapshot_type, filters
            )
        except DBSnapshotNotFoundFault:
            if (
                snapshot_type is None
                and db_snapshot_identifier
                and not (filters or {}).get("snapshot-type")
            ):
                return self._orig_describe_db_snapshots(
                    db_instance_identifier, db_snapshot_identifier, "awsbackup", filters
                )
            raise


def _body(response: BackupResponse) -> dict[str, Any]:
    return json.loads(response.body) if response.body else {}


def _job_filters(response: BackupResponse, *names: str) -> dict[str, str | None]:
    return {name: response._get_param(name) for name in names}


class BackupResponseExtension:
    """Actions added to moto's ``BackupResponse`` (REST-JSON: parameters from path, query and body)."""

    def _uri(self, name: str) -> str:
        return unquote(self.uri_match[name])

    def create_backup_selection(self) -> ActionResult:
        body = _body(self)
        selection = self.backup_backend.create_backup_selection(
            self._uri("backupPlanId"), body.get("BackupSelection"), body.get("CreatorRequestId")
        )
        return ActionResult(selection)

    def get_backup_selection(self) -> ActionResult:
        return ActionResult(
            self.backup_backend.get_backup_selection(
                self._uri("backupPlanId"), self._uri("selectionId")
            )
        )

    def list_backup_selections(self) -> ActionResult:
        selections = self.backup_backend.list_backup_selections(self._uri("backupPlanId"))
        return ActionResult({"BackupSelectionsList": selections})

    def delete_backup_selection(self) -> EmptyResult:
        self.backup_backend.delete_backup_selection(
            self._uri("backupPlanId"), self._uri("selectionId")
        )
        return EmptyResult()

    def start_backup_job(self) -> ActionResult:
        body = _body(self)
        job = self.backup_backend.start_backup_job(
            body.get("BackupVaultName"),
            body.get("ResourceArn"),
            body.get("IamRoleArn"),
            body.get("Lifecycle"),
        )
        return ActionResult(job)

    def describe_backup_job(self) -> ActionResult:
        return ActionResult(self.backup_backend.describe_backup_job(self._uri("backupJobId")))

    def list_backup_jobs(self) -> ActionResult:
        filters = _job_filters(self, "resourceArn", "state", "backupVaultName", "resourceType")
        return ActionResult({"BackupJobs": self.backup_backend.list_backup_jobs(filters)})

    def start_copy_job(self) -> ActionResult:
        body = _body(self)
        job = self.backup_backend.start_copy_job(
            body.get("RecoveryPointArn"),
            body.get("SourceBackupVaultName"),
            body.get("DestinationBackupVaultArn"),
            body.get("IamRoleArn"),
            body.get("Lifecycle"),
        )
        return ActionResult(job)

    def describe_copy_job(self) -> ActionResult:
        return ActionResult(
            {"CopyJob": self.backup_backend.describe_copy_job(self._uri("copyJobId"))}
        )

    def list_copy_jobs(self) -> ActionResult:
        filters = _job_filters(
            self, "resourceArn", "state", "destinationVaultArn", "sourceRecoveryPointArn"
        )
        return ActionResult({"CopyJobs": self.backup_backend.list_copy_jobs(filters)})

    def start_restore_job(self) -> ActionResult:
        body = _body(self)
        job = self.backup_backend.start_restore_job(
            body.get("RecoveryPointArn"), body.get("IamRoleArn"), body.get("Metadata")
        )
        return ActionResult(job)

    def describe_restore_job(self) -> ActionResult:
        return ActionResult(self.backup_backend.describe_restore_job(self._uri("restoreJobId")))

    def list_restore_jobs(self) -> ActionResult:
        filters = _job_filters(self, "status", "resourceType")
        return ActionResult({"RestoreJobs": self.backup_backend.list_restore_jobs(filters)})

    def list_recovery_points_by_backup_vault(self) -> ActionResult:
        filters = _job_filters(self, "resourceArn", "resourceType")
        points = self.backup_backend.list_recovery_points_by_backup_vault(
            self._uri("backupVaultName"), filters
        )
        return ActionResult({"RecoveryPoints": points})

    def list_recovery_points_by_resource(self) -> ActionResult:
        points = self.backup_backend.list_recovery_points_by_resource(self._uri("resourceArn"))
        return ActionResult({"RecoveryPoints": points})

    def describe_recovery_point(self) -> ActionResult:
        point = self.backup_backend.get_recovery_point(
            self._uri("backupVaultName"), self._uri("recoveryPointArn")
        )
        return ActionResult(point)

    def delete_recovery_point(self) -> EmptyResult:
        self.backup_backend.delete_recovery_point(
            self._uri("backupVaultName"), self._uri("recoveryPointArn")
        )
        return EmptyResult()

    def update_recovery_point_lifecycle(self) -> ActionResult:
        point = self.backup_backend.update_recovery_point_lifecycle(
            self._uri("backupVaultName"),
            self._uri("recoveryPointArn"),
            _body(self).get("Lifecycle"),
        )
        return ActionResult(point)

    def get_recovery_point_restore_metadata(self) -> ActionResult:
        vault, arn = self._uri("backupVaultName"), self._uri("recoveryPointArn")
        metadata = self.backup_backend.get_recovery_point_restore_metadata(vault, arn)
        point = self.backup_backend.get_recovery_point(vault, arn)
        return ActionResult(
            {
                "BackupVaultArn": point.backup_vault_arn,
                "RecoveryPointArn": arn,
                "RestoreMetadata": metadata,
                "ResourceType": point.resource_type,
            }
        )


#: Routes for the new REST paths (moto's server builds its URL map from ``moto.backup.urls``).
URL_PATHS = {
    "{0}/backup-jobs/?$": BackupResponse.dispatch,
    "{0}/backup-jobs/(?P<backupJobId>[^/]+)$": BackupResponse.dispatch,
    "{0}/copy-jobs/?$": BackupResponse.dispatch,
    "{0}/copy-jobs/(?P<copyJobId>[^/]+)$": BackupResponse.dispatch,
    "{0}/restore-jobs/?$": BackupResponse.dispatch,
    "{0}/restore-jobs/(?P<restoreJobId>[^/]+)$": BackupResponse.dispatch,
    "{0}/backup-vaults/(?P<backupVaultName>[^/]+)/recovery-points/$": BackupResponse.dispatch,
    "{0}/backup-vaults/(?P<backupVaultName>[^/]+)/recovery-points/(?P<recoveryPointArn>.+)$": (
        BackupResponse.dispatch
    ),
    "{0}/resources/(?P<resourceArn>.+)/recovery-points/$": BackupResponse.dispatch,
}


def install() -> None:
    """Graft jobs and recovery points onto moto's Backup classes and routes."""
    seconds = env_seconds(JOB_SECONDS_ENV, 1.0)
    for model in (BACKUP_JOB, COPY_JOB, RESTORE_JOB):
        register_duration(model, seconds)
    extend(BackupBackend, BackupBackendExtension)
    extend(BackupResponse, BackupResponseExtension)
    extend(RDSBackend, RDSBackendSnapshotExtension)
    backup_urls.url_paths.update(URL_PATHS)
