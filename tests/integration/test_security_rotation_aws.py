# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_incident.yml on the lab, rotating what the plan knows beyond PostgreSQL and Redis users:
an RDS master password, an IAM user's access key, an application secret (environment file and Secrets Manager)
and the TSIG key of the lab's BIND. Check mode changes nothing; one run rotates each and verifies it; a later run
deletes the replaced IAM key once its grace period is over (the clock is passed in); no new secret is printed,
stored in the job events or written into the report.

What moto 5.2.5 cannot show, said where it matters: RDS has no database to log into (the test checks what the RDS
API shows: no password pending); moto's request authentication, switched on for a moment through its
/moto-api/reset-auth endpoint, refuses a deleted access key and accepts a new one, but it does not look at a key's
status, so an inactive key is checked through the IAM API (status Inactive) only.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import secrets
import stat
import subprocess
import typing as t
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import pytest
import yaml
from botocore.exceptions import ClientError

from .conftest import LAB_DIR, boto3_client

PLAYBOOK = "playbooks/security_incident.yml"
GRACE = "1h"


def environment(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def tsig_answer(lab: dict, secret: str) -> str:
    """NOERROR when BIND takes an update signed with this secret (the update changes nothing), else the refusal."""
    facts = lab["dns"]
    update = dns.update.UpdateMessage(facts["zone"], keyring=dns.tsig.Key(facts["tsig_key_name"], secret, "hmac-sha256"))
    update.present(dns.name.from_text(facts["zone"]))
    try:
        response = dns.query.tcp(update, facts["server"], port=facts["port"], timeout=5)
    except dns.tsig.PeerError as error:
        return type(error).__name__
    return dns.rcode.to_text(response.rcode())


def secret_of(client: t.Any, secret_id: str, stage: str = "AWSCURRENT") -> str:
    return client.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"]


def keys_of(iam: t.Any, user: str) -> dict[str, str]:
    return {key["AccessKeyId"]: key["Status"] for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def caller_with(aws: dict, key_id: str, secret: str) -> str | None:
    """The ARN the key signs as, or None when moto refuses it (authentication on)."""
    import boto3

    sts = boto3.client("sts", endpoint_url=aws["endpoint_url"], region_name=aws["region"],
                       aws_access_key_id=key_id, aws_secret_access_key=secret)
    try:
        return sts.get_caller_identity()["Arn"]
    except ClientError:
        return None


def moto_auth(aws: dict, count: str) -> None:
    """Switch moto's request authentication on ("0": every request) or off ("inf")."""
    request = urllib.request.Request(f"{aws['endpoint_url']}/moto-api/reset-auth", data=count.encode(), method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture
def world(lab, aws, tmp_path) -> t.Iterator[dict[str, t.Any]]:
    """An RDS instance, an IAM user with a key, secrets and an environment file; the lab's TSIG key put back after."""
    suffix = secrets.token_hex(4)
    rds, iam, secretsmanager = (boto3_client(aws, name) for name in ("rds", "iam", "secretsmanager"))
    instance, user = f"ledger-{suffix}", f"deployer-{suffix}"
    # A subnet group, as every real instance has (amazon.aws.rds_instance reads it when it modifies one).
    ec2 = boto3_client(aws, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.26.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.26.{index}.0/24", AvailabilityZone=f"{aws['region']}{zone}")
               ["Subnet"]["SubnetId"] for index, zone in enumerate("ab")]
    rds.create_db_subnet_group(DBSubnetGroupName=instance, DBSubnetGroupDescription="ledger", SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier=instance, DBInstanceClass="db.t3.micro", Engine="postgres",
                           MasterUsername="dr", MasterUserPassword="old-master-password-1", AllocatedStorage=20,
                           DBSubnetGroupName=instance)
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="who-am-i", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"}]}))
    first = iam.create_access_key(UserName=user)["AccessKey"]
    ids = {name: f"shopfront/lab/{name}-{suffix}" for name in ("ledger", "deployer", "session", "tsig")}
    secretsmanager.create_secret(Name=ids["session"], SecretString="old-session-key")
    env_file = tmp_path / "app" / "environment"
    env_file.parent.mkdir()
    env_file.write_text("FIRST=1\nSHOPFRONT_SESSION_KEY=old-session-key\nLAST=2\n")
    env_file.chmod(0o600)
    key_file = Path(lab["dns"]["tsig_key_file"])
    original_key = key_file.read_bytes()
    aws_options = dict(aws)

    plan = copy.deepcopy(yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text()))
    plan["dr_plan"]["components"].append({
        "name": "ledger", "kind": "rds", "connection": {"db_instance_identifier": instance, **aws_options},
        "backup": {"method": "snapshot"}, "rpo": "1h", "rto": "1h"})
    plan["dr_plan"]["security"] = {
        "rds_credentials": [{"name": "ledger master", "component": "ledger", "secret_id": ids["ledger"], "aws": aws_options}],
        "iam_access_keys": [{"name": "deployer", "user": user, "env_file": str(env_file), "env_var_id": "AWS_ACCESS_KEY_ID",
                             "env_var": "AWS_SECRET_ACCESS_KEY", "secret_id": ids["deployer"], "aws": aws_options}],
        "iam_key_grace": GRACE,
        "app_secrets": [{"name": "session key", "env_file": str(env_file), "env_var": "SHOPFRONT_SESSION_KEY",
                         "secret_id": ids["session"], "aws": aws_options}],
        "tsig_key": {"key_file": str(key_file), "group": "bind",
                     "reload_command": [str(part) for part in lab["dns"]["reload_command"]],
                     "secret_id": ids["tsig"], "aws": aws_options},
    }
    try:
        yield {"plan": plan, "instance": instance, "user": user, "first_key": first, "ids": ids, "env_file": env_file,
               "key_file": key_file, "original_key": original_key}
    finally:
        moto_auth(aws, "inf")
        key_file.write_bytes(original_key)
        subprocess.run([str(part) for part in lab["dns"]["reload_command"]], check=True, capture_output=True, timeout=60)
        rds.delete_db_instance(DBInstanceIdentifier=instance, SkipFinalSnapshot=True)
        rds.delete_db_subnet_group(DBSubnetGroupName=instance)
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)
        for secret_id in ids.values():
            with contextlib.suppress(ClientError):
                secretsmanager.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
        for key_id in keys_of(iam, user):
            iam.delete_access_key(UserName=user, AccessKeyId=key_id)
        iam.delete_user_policy(UserName=user, PolicyName="who-am-i")
        iam.delete_user(UserName=user)


def test_security_incident_rotates_rds_iam_app_secrets_and_tsig_and_verifies_each(ansible, lab, aws, world, tmp_path):
    plan, user, ids, env_file = world["plan"], world["user"], world["ids"], world["env_file"]
    iam, secretsmanager, rds = (boto3_client(aws, name) for name in ("iam", "secretsmanager", "rds"))
    old_tsig = lab["dns"]["tsig_key_secret"]
    state = {"DR_STATE_DIR": str(tmp_path / "state")}
    reports = tmp_path / "reports"

    preview = ansible.playbook(PLAYBOOK, plan, check=True, env=state)
    assert preview.ok, preview.tail()
    for listed in ("Set the new master password of the RDS instance", "Create a new access key - " + user,
                   "Hand the new application secret to the application", "Replace the TSIG key in the DNS server's key file"):
        assert listed in preview.stdout, f"check mode does not list: {listed}"
    assert env_file.read_text() == "FIRST=1\nSHOPFRONT_SESSION_KEY=old-session-key\nLAST=2\n"
    assert keys_of(iam, user) == {world["first_key"]["AccessKeyId"]: "Active"}
    assert secret_of(secretsmanager, ids["session"]) == "old-session-key"
    assert world["key_file"].read_bytes() == world["original_key"]
    assert tsig_answer(lab, old_tsig) == "NOERROR", "check mode must not replace the TSIG key"

    run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes"}, verbosity=2,
                           env={**state, "ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(reports)})
    assert run.ok, run.tail()

    # RDS: moto has no database to log into; the API shows the new password applied (nothing pending) and the
    # application's copy in Secrets Manager is a new one.
    described = rds.describe_db_instances(DBInstanceIdentifier=world["instance"])["DBInstances"][0]
    assert "MasterUserPassword" not in described.get("PendingModifiedValues", {})
    master = secret_of(secretsmanager, ids["ledger"])
    assert master != "old-master-password-1" and len(master) == 40

    # IAM: a new key in use, published; the old one inactive (grace 1h), refused once deleted (below).
    env = environment(env_file)
    keys = keys_of(iam, user)
    new_key = env["AWS_ACCESS_KEY_ID"]
    assert keys == {world["first_key"]["AccessKeyId"]: "Inactive", new_key: "Active"}
    assert json.loads(secret_of(secretsmanager, ids["deployer"])) == {
        "access_key_id": new_key, "secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}

    # The application secret: a new value in the file (other lines kept, 0600) and as AWSCURRENT.
    assert list(env) == ["FIRST", "SHOPFRONT_SESSION_KEY", "LAST", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert env["FIRST"] == "1" and env["LAST"] == "2"
    session = env["SHOPFRONT_SESSION_KEY"]
    assert session != "old-session-key" and len(session) == 48
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert secret_of(secretsmanager, ids["session"]) == session
    assert secret_of(secretsmanager, ids["session"], "AWSPREVIOUS") == "old-session-key"

    # TSIG: BIND refuses the old key and takes the new one, which the plan's secret holds.
    new_tsig = secret_of(secretsmanager, ids["tsig"])
    assert f'secret "{new_tsig}";' in world["key_file"].read_text()
    assert stat.S_IMODE(world["key_file"].stat().st_mode) == 0o640
    assert tsig_answer(lab, old_tsig) == "PeerBadSignature"
    assert tsig_answer(lab, new_tsig) == "NOERROR"

    new_secrets = {"rds": master, "iam": env["AWS_SECRET_ACCESS_KEY"], "session": session, "tsig": new_tsig}
    written = [path for path in reports.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {"report.json", "report.md"}
    for name, value in new_secrets.items():
        assert value not in run.stdout, f"the new {name} secret was printed"
        assert value not in json.dumps(run.events, default=str), f"the new {name} secret is in the job events"
        for path in written:
            assert value not in path.read_text(errors="replace"), f"the new {name} secret is in {path.name}"
    report = next(path for path in written if path.name == "report.md").read_text()
    assert f"IAM user {user}: new access key in use" in report and "TSIG key drlab-tsig replaced" in report

    # A later run, 2 hours on (the clock passed in): the first key's grace is over, it is deleted; the key of the
    # first run is replaced in turn (IAM's limit of two keys respected).
    later = copy.deepcopy(plan)
    later["dr_plan"]["security"] = {key: later["dr_plan"]["security"][key] for key in ("iam_access_keys", "iam_key_grace")}
    clock = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    again = ansible.playbook(PLAYBOOK, {**later, "confirm": "yes", "security_incident_now": clock}, env=state)
    assert again.ok, again.tail()
    newest = environment(env_file)["AWS_ACCESS_KEY_ID"]
    assert keys_of(iam, user) == {new_key: "Inactive", newest: "Active"}

    # The closing run's step, another hour on: the key replaced by the later run is past its grace too.
    closing = ansible.tasks([{"name": "Delete the expired keys", "ansible.builtin.include_role": {
        "name": "resilience.dr.security_incident", "tasks_from": "delete_expired_iam_keys"}}],
        {**later, "security_incident_now": (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat()})
    assert closing.ok, closing.tail()
    assert keys_of(iam, user) == {newest: "Active"}

    moto_auth(aws, "0")
    try:
        assert caller_with(aws, world["first_key"]["AccessKeyId"], world["first_key"]["SecretAccessKey"]) is None, \
            "the deleted key must be refused"
        assert caller_with(aws, new_key, env["AWS_SECRET_ACCESS_KEY"]) is None, "the key the closing run deleted"
        assert caller_with(aws, newest, environment(env_file)["AWS_SECRET_ACCESS_KEY"]).endswith(f"user/{user}")
    finally:
        moto_auth(aws, "inf")


@pytest.fixture
def lab_tsig_key(lab) -> t.Iterator[Path]:
    """The lab's TSIG key file, put back (and BIND reloaded) afterwards."""
    key_file = Path(lab["dns"]["tsig_key_file"])
    original = key_file.read_bytes()
    try:
        yield key_file
    finally:
        key_file.write_bytes(original)
        subprocess.run([str(part) for part in lab["dns"]["reload_command"]], check=True, capture_output=True, timeout=60)


def test_tsig_key_fails_when_the_server_still_takes_the_old_key(ansible, lab, lab_tsig_key):
    """A reload that never reaches the server (here: a command that does nothing) must not pass as a rotation."""
    facts = lab["dns"]
    new = secrets.token_hex(16)
    secret = base64.b64encode(new.encode()).decode()
    args = {"server": facts["server"], "port": facts["port"], "zone": facts["zone"],
            "tsig_key_name": facts["tsig_key_name"], "tsig_key_secret": facts["tsig_key_secret"], "new_secret": secret,
            "key_file": str(lab_tsig_key), "group": "bind", "reload_command": ["true"], "verify_timeout": 2}

    preview = ansible.module("resilience.dr.tsig_key", args, check=True)
    assert preview["changed"] and not preview["rotated"] and not preview.get("failed")
    assert secret not in lab_tsig_key.read_text(), "check mode must not write the key file"

    result = ansible.module("resilience.dr.tsig_key", args)
    assert result["failed"]
    assert "one signed with the old key accepted" in result["msg"] and facts["tsig_key_name"] in result["msg"]
    assert secret not in json.dumps(result) and facts["tsig_key_secret"] not in json.dumps(result)
    assert tsig_answer(lab, facts["tsig_key_secret"]) == "NOERROR", "the server never read the new key"
