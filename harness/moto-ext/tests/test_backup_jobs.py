"""AWS Backup jobs and recovery points (RDS DB instances) against the extended moto server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT, wait_for

PRIMARY, DR = "us-west-2", "us-east-2"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole"


@pytest.fixture
def setup(aws, name):
    """A DB instance and a vault in PRIMARY, a vault in DR."""
    rds = aws("rds", PRIMARY)
    db = rds.create_db_instance(
        DBInstanceIdentifier=f"{name}-db",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        MasterUsername="admin",
        MasterUserPassword="password123",
        AllocatedStorage=20,
    )["DBInstance"]
    backup, dr_backup = aws("backup", PRIMARY), aws("backup", DR)
    backup.create_backup_vault(BackupVaultName=f"{name}-vault")
    dr_vault = dr_backup.create_backup_vault(BackupVaultName=f"{name}-dr")["BackupVaultArn"]
    return {
        "name": name,
        "rds": rds,
        "db_arn": db["DBInstanceArn"],
        "backup": backup,
        "dr_backup": dr_backup,
        "vault": f"{name}-vault",
        "dr_vault": f"{name}-dr",
        "dr_vault_arn": dr_vault,
        "dr_rds": aws("rds", DR),
    }


def completed(client, op, key, job_id, state_key="State"):
    def check():
        job = getattr(client, op)(**{key: job_id})
        job = job.get("CopyJob", job)
        assert job[state_key] in ("CREATED", "PENDING", "RUNNING", "COMPLETED"), job
        return job if job[state_key] == "COMPLETED" else None

    return wait_for(check)


def backup_now(s, lifecycle=None):
    kwargs = {"Lifecycle": lifecycle} if lifecycle else {}
    job = s["backup"].start_backup_job(
        BackupVaultName=s["vault"], ResourceArn=s["db_arn"], IamRoleArn=ROLE, **kwargs
    )
    return job, completed(s["backup"], "describe_backup_job", "BackupJobId", job["BackupJobId"])


def test_backup_job_makes_recovery_point_from_rds_snapshot(setup):
    s = setup
    job = s["backup"].start_backup_job(
        BackupVaultName=s["vault"],
        ResourceArn=s["db_arn"],
        IamRoleArn=ROLE,
        Lifecycle={"DeleteAfterDays": 7},
    )
    snapshot_id = f"awsbackup:job-{job['BackupJobId'].lower()}"
    assert job["RecoveryPointArn"] == f"arn:aws:rds:{PRIMARY}:{ACCOUNT}:snapshot:{snapshot_id}"
    running = s["backup"].describe_backup_job(BackupJobId=job["BackupJobId"])
    assert running["State"] == "RUNNING" and running["PercentDone"] == "0.0"
    assert (
        s["backup"].list_recovery_points_by_backup_vault(BackupVaultName=s["vault"])[
            "RecoveryPoints"
        ]
        == []
    )

    done = completed(s["backup"], "describe_backup_job", "BackupJobId", job["BackupJobId"])
    assert done["ResourceArn"] == s["db_arn"] and done["ResourceType"] == "RDS"
    assert done["ResourceName"] == f"{s['name']}-db" and "CompletionDate" in done
    assert done["BackupSizeInBytes"] == 20 * 1024**3

    points = s["backup"].list_recovery_points_by_backup_vault(BackupVaultName=s["vault"])[
        "RecoveryPoints"
    ]
    assert [p["RecoveryPointArn"] for p in points] == [job["RecoveryPointArn"]]
    point = s["backup"].describe_recovery_point(
        BackupVaultName=s["vault"], RecoveryPointArn=job["RecoveryPointArn"]
    )
    assert point["Status"] == "COMPLETED" and point["ResourceArn"] == s["db_arn"]
    assert point["Lifecycle"] == {"DeleteAfterDays": 7}
    assert point["CalculatedLifecycle"]["DeleteAt"] - point["CreationDate"] == timedelta(days=7)
    snaps = s["rds"].describe_db_snapshots(SnapshotType="awsbackup")["DBSnapshots"]
    assert any(x["DBSnapshotIdentifier"] == snapshot_id for x in snaps)
    vault = [
        v
        for v in s["backup"].list_backup_vaults()["BackupVaultList"]
        if v["BackupVaultName"] == s["vault"]
    ]
    assert vault[0]["NumberOfRecoveryPoints"] == 1

    listed = s["backup"].list_backup_jobs(ByResourceArn=s["db_arn"])["BackupJobs"]
    assert [(j["BackupJobId"], j["State"]) for j in listed] == [(job["BackupJobId"], "COMPLETED")]
    assert (
        s["backup"].list_backup_jobs(ByState="FAILED", ByResourceArn=s["db_arn"])["BackupJobs"]
        == []
    )
    by_resource = s["backup"].list_recovery_points_by_resource(ResourceArn=s["db_arn"])[
        "RecoveryPoints"
    ]
    assert [p["RecoveryPointArn"] for p in by_resource] == [job["RecoveryPointArn"]]


def test_copy_to_dr_region_then_restore_there(setup):
    s = setup
    job, _ = backup_now(s)
    copy = s["backup"].start_copy_job(
        RecoveryPointArn=job["RecoveryPointArn"],
        SourceBackupVaultName=s["vault"],
        DestinationBackupVaultArn=s["dr_vault_arn"],
        IamRoleArn=ROLE,
        Lifecycle={"DeleteAfterDays": 30},
    )
    assert (
        s["dr_backup"].list_recovery_points_by_backup_vault(BackupVaultName=s["dr_vault"])[
            "RecoveryPoints"
        ]
        == []
    )
    done = completed(s["backup"], "describe_copy_job", "CopyJobId", copy["CopyJobId"])
    copied_arn = done["DestinationRecoveryPointArn"]
    assert (
        copied_arn
        == f"arn:aws:rds:{DR}:{ACCOUNT}:snapshot:awsbackup:copyjob-{copy['CopyJobId'].lower()}"
    )
    assert done["SourceRecoveryPointArn"] == job["RecoveryPointArn"]
    assert done["DestinationBackupVaultArn"] == s["dr_vault_arn"]
    assert [
        c["CopyJobId"]
        for c in s["backup"].list_copy_jobs(ByDestinationVaultArn=s["dr_vault_arn"])["CopyJobs"]
    ] == [copy["CopyJobId"]]

    # drillbit, in the DR region: newest recovery point of the vault, restore it, wait for COMPLETED
    points = s["dr_backup"].list_recovery_points_by_backup_vault(BackupVaultName=s["dr_vault"])[
        "RecoveryPoints"
    ]
    assert [p["RecoveryPointArn"] for p in points] == [copied_arn]
    assert points[0]["SourceBackupVaultArn"].endswith(f":backup-vault:{s['vault']}")
    assert points[0]["CalculatedLifecycle"]["DeleteAt"] - points[0]["CreationDate"] == timedelta(
        days=30
    )
    assert any(
        x["DBSnapshotArn"] == copied_arn
        for x in s["dr_rds"].describe_db_snapshots(SnapshotType="awsbackup")["DBSnapshots"]
    )

    restore = s["dr_backup"].start_restore_job(
        RecoveryPointArn=copied_arn,
        IamRoleArn=ROLE,
        Metadata={"DBInstanceIdentifier": f"{s['name']}-restored"},
    )
    assert (
        s["dr_backup"].describe_restore_job(RestoreJobId=restore["RestoreJobId"])["Status"]
        == "RUNNING"
    )
    done = completed(
        s["dr_backup"], "describe_restore_job", "RestoreJobId", restore["RestoreJobId"], "Status"
    )
    assert done["CreatedResourceArn"] == f"arn:aws:rds:{DR}:{ACCOUNT}:db:{s['name']}-restored"
    assert done["RecoveryPointArn"] == copied_arn and done["ResourceType"] == "RDS"
    db = s["dr_rds"].describe_db_instances(DBInstanceIdentifier=f"{s['name']}-restored")[
        "DBInstances"
    ][0]
    assert db["Engine"] == "postgres" and db["DBInstanceClass"] == "db.t3.micro"
    assert [
        j["RestoreJobId"]
        for j in s["dr_backup"].list_restore_jobs()["RestoreJobs"]
        if j["RestoreJobId"] == restore["RestoreJobId"]
    ]


def test_restore_without_metadata_picks_a_deterministic_identifier(setup):
    s = setup
    job, _ = backup_now(s)
    meta = s["backup"].get_recovery_point_restore_metadata(
        BackupVaultName=s["vault"], RecoveryPointArn=job["RecoveryPointArn"]
    )
    assert meta["RestoreMetadata"]["DBInstanceIdentifier"] == f"{s['name']}-db"
    restore = s["backup"].start_restore_job(
        RecoveryPointArn=job["RecoveryPointArn"], IamRoleArn=ROLE, Metadata={}
    )
    done = completed(
        s["backup"], "describe_restore_job", "RestoreJobId", restore["RestoreJobId"], "Status"
    )
    expected = f"{s['name']}-db-restored-{restore['RestoreJobId'][:8].lower()}"
    assert done["CreatedResourceArn"].endswith(f":db:{expected}")
    assert s["rds"].describe_db_instances(DBInstanceIdentifier=expected)["DBInstances"]


def test_failed_restore_and_backup_of_missing_instance(setup):
    s = setup
    job, _ = backup_now(s)
    restore = s["backup"].start_restore_job(
        RecoveryPointArn=job["RecoveryPointArn"],
        IamRoleArn=ROLE,
        Metadata={"DBInstanceIdentifier": f"{s['name']}-db"},
    )  # that identifier is taken: the job fails, as in AWS, instead of the call
    failed = s["backup"].describe_restore_job(RestoreJobId=restore["RestoreJobId"])
    assert failed["Status"] == "FAILED" and "already exists" in failed["StatusMessage"]
    missing = s["backup"].start_backup_job(
        BackupVaultName=s["vault"],
        ResourceArn=s["db_arn"].replace(f"{s['name']}-db", "gone"),
        IamRoleArn=ROLE,
    )
    assert s["backup"].describe_backup_job(BackupJobId=missing["BackupJobId"])["State"] == "FAILED"


def test_delete_recovery_point_deletes_snapshot(setup):
    s = setup
    job, _ = backup_now(s)
    s["backup"].delete_recovery_point(
        BackupVaultName=s["vault"], RecoveryPointArn=job["RecoveryPointArn"]
    )
    assert (
        s["backup"].list_recovery_points_by_backup_vault(BackupVaultName=s["vault"])[
            "RecoveryPoints"
        ]
        == []
    )
    with pytest.raises(ClientError) as e:
        s["rds"].describe_db_snapshots(
            DBSnapshotIdentifier=f"awsbackup:job-{job['BackupJobId'].lower()}"
        )
    assert e.value.response["Error"]["Code"] == "DBSnapshotNotFound"
    with pytest.raises(ClientError) as e:
        s["backup"].describe_recovery_point(
            BackupVaultName=s["vault"], RecoveryPointArn=job["RecoveryPointArn"]
        )
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_update_lifecycle(setup):
    s = setup
    job, _ = backup_now(s)
    out = s["backup"].update_recovery_point_lifecycle(
        BackupVaultName=s["vault"],
        RecoveryPointArn=job["RecoveryPointArn"],
        Lifecycle={"DeleteAfterDays": 3},
    )
    assert out["Lifecycle"] == {"DeleteAfterDays": 3} and "DeleteAt" in out["CalculatedLifecycle"]


def test_backup_selections(setup):
    s = setup
    plan = s["backup"].create_backup_plan(
        BackupPlan={
            "BackupPlanName": f"{s['name']}-plan",
            "Rules": [
                {
                    "RuleName": "r",
                    "TargetBackupVaultName": s["vault"],
                    "CopyActions": [{"DestinationBackupVaultArn": s["dr_vault_arn"]}],
                }
            ],
        }
    )["BackupPlanId"]
    selection = s["backup"].create_backup_selection(
        BackupPlanId=plan,
        BackupSelection={"SelectionName": "db", "IamRoleArn": ROLE, "Resources": [s["db_arn"]]},
    )
    assert selection["BackupPlanId"] == plan
    got = s["backup"].get_backup_selection(BackupPlanId=plan, SelectionId=selection["SelectionId"])
    assert got["BackupSelection"]["Resources"] == [s["db_arn"]]
    listed = s["backup"].list_backup_selections(BackupPlanId=plan)["BackupSelectionsList"]
    assert [(x["SelectionId"], x["SelectionName"], x["IamRoleArn"]) for x in listed] == [
        (selection["SelectionId"], "db", ROLE)
    ]
    s["backup"].delete_backup_selection(BackupPlanId=plan, SelectionId=selection["SelectionId"])
    assert s["backup"].list_backup_selections(BackupPlanId=plan)["BackupSelectionsList"] == []


def test_errors(setup):
    s = setup

    def code(call, **kwargs):
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        return e.value.response["Error"]["Code"]

    assert (
        code(
            s["backup"].start_backup_job,
            BackupVaultName="nope",
            ResourceArn=s["db_arn"],
            IamRoleArn=ROLE,
        )
        == "ResourceNotFoundException"
    )
    assert (
        code(
            s["backup"].start_backup_job,
            BackupVaultName=s["vault"],
            ResourceArn="arn:aws:dynamodb:us-west-2:123456789012:table/x",
            IamRoleArn=ROLE,
        )
        == "InvalidParameterValueException"
    )
    assert code(s["backup"].describe_backup_job, BackupJobId="NOPE") == "ResourceNotFoundException"
    assert code(s["backup"].describe_copy_job, CopyJobId="NOPE") == "ResourceNotFoundException"
    assert (
        code(s["backup"].describe_restore_job, RestoreJobId="NOPE") == "ResourceNotFoundException"
    )
    assert (
        code(s["backup"].list_recovery_points_by_backup_vault, BackupVaultName="nope")
        == "ResourceNotFoundException"
    )
    assert (
        code(
            s["backup"].create_backup_selection,
            BackupPlanId="nope",
            BackupSelection={"SelectionName": "x", "IamRoleArn": ROLE},
        )
        == "ResourceNotFoundException"
    )
    job, _ = backup_now(s)
    assert (
        code(
            s["backup"].start_copy_job,
            RecoveryPointArn=job["RecoveryPointArn"],
            SourceBackupVaultName=s["vault"],
            DestinationBackupVaultArn=s["dr_vault_arn"] + "-missing",
            IamRoleArn=ROLE,
        )
        == "ResourceNotFoundException"
    )
    # a recovery point is restored in its own region only
    assert (
        code(
            s["dr_backup"].start_restore_job,
            RecoveryPointArn=job["RecoveryPointArn"],
            IamRoleArn=ROLE,
            Metadata={},
        )
        == "ResourceNotFoundException"
    )
