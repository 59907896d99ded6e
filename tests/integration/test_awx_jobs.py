# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every job template of awx/templates.yml run as AWX would run it, on the lab.

For each job template (and each job node of the level 3 workflow, in order)
the test builds the job from the definition alone, the way AWX does at
launch, and hands it to ansible-runner, the engine AWX itself runs jobs with:

- the template's playbook, run from the project (the repository root);
- extra vars: the template's `extra_vars`, then the survey defaults AWX
  accepts (a default that fails the question's own validation is dropped, as
  AWX drops it: e.g. the empty default of a multiselect), then the launch
  answers, which must satisfy the survey (required questions answered,
  choices respected, no variable the template does not prompt for);
- job tags and skip tags of the template or, for a workflow node, of the node;
- the template's `extra_vars` as configure.yml stores them: rendered with
  configure.yml's variables (`awx_report_s3_url` and
  `awx_report_s3_endpoint_url`: a bucket of the lab's S3 server);
- the execution environment's own environment: the `ENV` lines of
  execution-environment.yml (they enable the dr_report callback);
- the inventory of `awx_inventory` plus the hosts configure.yml adds from
  `awx_hosts`, with the DR plan as inventory variable `dr_plan`, written the
  way docs/awx.md tells users to write it: its secrets are references to the
  variables the credential types inject, and its components and services run
  on hosts of their own (`host:`). The lab's servers all run on this
  machine, so the test's `awx_hosts` give those hosts
  `ansible_connection: local`, where an operator gives `ansible_host`;
- credentials: this test stands in for AWX's credential injection. It renders
  each custom credential type's `injectors` (extra_vars, env, file) from its
  definition with the lab's values as inputs, in a sandboxed Jinja
  environment as AWX does, writes the extra vars to a file passed as
  `-e @file` with every value marked `!unsafe`, the files into the job's
  private directory, and sets the environment variables. AWX's own types are
  injected as AWX injects them: Machine as `-u USER` with the SSH key given
  to ssh-agent (ansible-runner's `ssh_key`), Amazon Web Services as the
  environment variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
  AWS_SECURITY_TOKEN and AWS_SESSION_TOKEN (no region);
- a fresh state directory (DR_STATE_DIR) per job: an AWX job runs in a fresh
  container, so nothing written to disk by one job reaches the next (the
  failback therefore points DNS at the plan's addresses, not at a recording).

Survey answers go to ansible-runner as plain extra vars (AWX additionally
marks launch-time values `!unsafe`; none of the answers here contains Jinja).

Each run must succeed and leave a user-visible outcome: new verified backups
in the repository, restored rows, keys and files, DNS answering the secondary
then the primary address, the old application password refused, and the
job's DR report in the S3 prefix, readable after the job. The level 3
workflow's approval node is a human decision in AWX; the test skips it and
runs the DNS failover node right after verify, then the failback template.

The one-run level 3 template runs as a Check job (the job type every
template prompts for) by default, because its real run repeats minutes of
what the workflow's jobs already run for real, stage by stage.
AWX_JOBS_FULL=1 runs it for real, followed by the failback.

Afterwards the lab is as the other tests expect: services on the primary,
DNS on the primary address, the application's passwords the lab's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import typing as t
import urllib.request
import uuid
from pathlib import Path

import boto3
import psycopg2
import pytest
import redis
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .conftest import LAB_DIR, REPOSITORY_ROOT, PlaybookRun, lab_ctl, put_back_app_credentials
from .lab_dns import answer, set_record

# The one-run level 3 template repeats, for real, what the workflow's jobs
# already run for real; it takes minutes on a busy machine, so by default it
# runs as a Check job. AWX_JOBS_FULL=1 runs it for real too.
FULL = os.environ.get("AWX_JOBS_FULL", "") not in ("", "0")


class _TemplatesLoader(yaml.SafeLoader):
    """Reads awx/templates.yml; `!unsafe` (kept from templating by configure.yml) gives the plain string."""


_TemplatesLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
TEMPLATES = yaml.load((REPOSITORY_ROOT / "awx" / "templates.yml").read_text(), Loader=_TemplatesLoader)
JOB_TEMPLATES = {template["name"]: template for template in TEMPLATES["awx_job_templates"]}
CREDENTIAL_TYPES = {kind["name"]: kind for kind in TEMPLATES["awx_credential_types"]}
BUILTIN_CREDENTIAL_TYPES = set(TEMPLATES["awx_builtin_credential_types"])
WORKFLOW = TEMPLATES["awx_workflows"][0]
# The SSH user of the lab's Machine credential (the lab's hosts are reached with the local connection).
MACHINE_USER = "dr-automation"


class Unsafe(str):
    """A value AWX hands to Ansible as `!unsafe` (never templated)."""


class _UnsafeDumper(yaml.SafeDumper):
    pass


_UnsafeDumper.add_representer(Unsafe, lambda dumper, value: dumper.represent_scalar("!unsafe", str(value), style="'"))


# --- AWX's launch-time logic, from the definitions ------------------------------------------------

def survey_errors(question: dict[str, t.Any], data: dict[str, t.Any]) -> list[str]:
    """AWX's validation of one survey question against launch data (the types awx/templates.yml uses)."""
    variable = question["variable"]
    if variable not in data:
        return [f"{variable!r} value missing"] if question["required"] else []
    value = data[variable]
    kind = question["type"]
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return [f"{variable!r} expected to be a string"]
        if question.get("min") not in (None, "") and len(value) < int(question["min"]):
            return [f"{variable!r} is shorter than {question['min']}"]
        if question.get("max") not in (None, "") and len(value) > int(question["max"]):
            return [f"{variable!r} is longer than {question['max']}"]
    elif kind == "multiplechoice":
        if value not in question["choices"]:
            return [f"{variable!r} value {value!r} is not one of {question['choices']}"]
    elif kind == "multiselect":
        if not isinstance(value, list):
            return [f"{variable!r} value is expected to be a list"]
        unknown = [item for item in value if item not in question["choices"]]
        if unknown:
            return [f"{variable!r} values {unknown} are not among {question['choices']}"]
    return []


def accepted_defaults(survey: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """The survey defaults AWX applies: those that pass their own question's validation."""
    defaults = {}
    for question in survey:
        default = question.get("default")
        if default is not None and not survey_errors(question, {question["variable"]: default}):
            defaults[question["variable"]] = default
    return defaults


def stored_extra_vars(template: dict[str, t.Any], configure_vars: dict[str, t.Any]) -> dict[str, t.Any]:
    """The template's extra vars as configure.yml stores them in AWX: rendered with configure.yml's variables."""
    sandbox = ImmutableSandboxedEnvironment()
    return {name: sandbox.from_string(value).render(**configure_vars) if isinstance(value, str) else value
            for name, value in (template.get("extra_vars") or {}).items()}


def launch_extra_vars(template: dict[str, t.Any], survey: list[dict[str, t.Any]],
                      changed: dict[str, t.Any], configure_vars: dict[str, t.Any]) -> dict[str, t.Any]:
    """Template extra vars, then the survey defaults, then the answers (validated as AWX does).

    AWX refuses a launch that leaves a required question unanswered, default
    or not; its survey form sends every question filled in with its default
    unless the operator changes it. `changed` is what the operator changes.
    """
    extra_vars = stored_extra_vars(template, configure_vars)
    extra_vars.update(accepted_defaults(survey))
    answers = {**accepted_defaults(survey), **changed}
    errors = [error for question in survey for error in survey_errors(question, answers)]
    assert not errors, f"AWX would refuse to launch {template['name']!r}: {errors}"
    asked = {question["variable"] for question in survey}
    refused = sorted(set(changed) - asked) if not template.get("ask_variables_on_launch") else []
    assert not refused, f"AWX would refuse {refused} on launch of {template['name']!r} (not prompted for)"
    extra_vars.update(answers)
    return extra_vars


def credential_inputs(lab: dict[str, t.Any]) -> dict[str, dict[str, str]]:
    """The credentials an operator of the lab would create in AWX, by credential type."""
    primary = lab["sites"]["primary"]
    return {
        "resilience.dr database": {"username": primary["postgresql"]["user"],
                                   "password": primary["postgresql"]["password"]},
        "resilience.dr Redis": {"password": primary["redis"]["password"]},
        "resilience.dr TSIG": {"key_name": lab["dns"]["tsig_key_name"], "key_algorithm": lab["dns"]["tsig_algorithm"],
                               "key_secret": lab["dns"]["tsig_key_secret"]},
        "resilience.dr backup identity": {"identity": (LAB_DIR / "secrets" / "backup-identity.txt").read_text()},
        # AWX's own types, with their own input names. The lab's S3 server takes any session token: the token
        # is there so that every job runs with AWS_SECURITY_TOKEN and AWS_SESSION_TOKEN set, as AWX sets them.
        "Amazon Web Services": {"username": lab["aws"]["access_key"], "password": lab["aws"]["secret_key"],
                                "security_token": "lab-session-token"},
        "Machine": {"username": MACHINE_USER, "ssh_key_data": machine_key()},
    }


def machine_key() -> str:
    """A fresh SSH private key for the lab's Machine credential (AWX hands it to ssh-agent)."""
    directory = LAB_DIR / "secrets"
    key = directory / "awx-machine-key"
    if not key.is_file():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "resilience.dr AWX test", "-f", str(key)],
                       check=True, capture_output=True)
    return key.read_text()


def inject_builtin_credentials(type_names: list[str], inputs: dict[str, dict[str, str]]
                               ) -> tuple[list[str], dict[str, str], str | None]:
    """Stand-in for AWX's injection of its own credential types: (command line, environment, SSH key).

    Machine: `-u USER` on ansible-playbook's command line and the key in
    ssh-agent for the job (ansible-runner's ssh_key); Amazon Web Services:
    the keys, and a token as both AWS_SECURITY_TOKEN and AWS_SESSION_TOKEN.
    """
    cmdline: list[str] = []
    environment: dict[str, str] = {}
    ssh_key = None
    for type_name in type_names:
        if type_name == "Machine":
            cmdline += ["-u", inputs["Machine"]["username"]]
            ssh_key = inputs["Machine"]["ssh_key_data"]
        elif type_name == "Amazon Web Services":
            aws = inputs["Amazon Web Services"]
            environment.update(AWS_ACCESS_KEY_ID=aws["username"], AWS_SECRET_ACCESS_KEY=aws["password"])
            if aws.get("security_token"):
                environment.update(AWS_SECURITY_TOKEN=aws["security_token"], AWS_SESSION_TOKEN=aws["security_token"])
        else:
            raise AssertionError(f"the test does not know how AWX injects its credential type {type_name!r}")
    return cmdline, environment, ssh_key


def execution_environment_env() -> dict[str, str]:
    """The environment the execution environment's image sets (its ENV lines)."""
    definition = yaml.safe_load((REPOSITORY_ROOT / "execution-environment.yml").read_text())
    steps = definition.get("additional_build_steps") or {}
    environment = {}
    for line in [*steps.get("append_base", []), *steps.get("append_final", [])]:
        if line.startswith("ENV "):
            name, _separator, value = line[len("ENV "):].partition("=")
            environment[name.strip()] = value.strip()
    return environment


def plan_hosts(plan: dict[str, t.Any]) -> set[str]:
    """Every host the plan names with `host:` (components, services, hooks, site overrides)."""
    found: set[str] = set()

    def walk(node: t.Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("host"), str):
                found.add(node["host"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(plan)
    return found


def inject_credentials(type_names: list[str], inputs: dict[str, dict[str, str]],
                       private: Path) -> tuple[dict[str, t.Any], dict[str, str]]:
    """Stand-in for AWX's credential injection: render each type's injectors with the inputs.

    Returns (extra vars, environment); files are written into the job's private directory.
    """
    sandbox = ImmutableSandboxedEnvironment()
    extra_vars: dict[str, t.Any] = {}
    environment: dict[str, str] = {}
    for type_name in [name for name in type_names if name not in BUILTIN_CREDENTIAL_TYPES]:
        kind = CREDENTIAL_TYPES[type_name]
        namespace: dict[str, t.Any] = {field["id"]: field["default"]
                                       for field in kind["inputs"]["fields"] if "default" in field}
        namespace.update(inputs[type_name])
        missing = set(kind["inputs"].get("required", [])) - set(namespace)
        assert not missing, f"the lab credential of {type_name!r} lacks {sorted(missing)}"
        injectors = kind["injectors"]
        files: dict[str, str] = {}
        for key, content in (injectors.get("file") or {}).items():
            path = private / "credentials" / f"{type_name.replace(' ', '_')}-{key}"
            path.parent.mkdir(mode=0o700, exist_ok=True)
            path.write_text(sandbox.from_string(content).render(**namespace))
            path.chmod(0o600)
            files[key.split(".", 1)[1] if "." in key else key] = str(path)
        if files:
            # `template` alone gives tower.filename; `template.NAME` gives tower.filename.NAME.
            namespace["tower"] = {"filename": files.get("template", files)}
        for name, value in (injectors.get("extra_vars") or {}).items():
            extra_vars[name] = Unsafe(sandbox.from_string(value).render(**namespace))
        for name, value in (injectors.get("env") or {}).items():
            environment[name] = sandbox.from_string(value).render(**namespace)
    return extra_vars, environment


def awx_plan(lab_plan: dict[str, t.Any]) -> dict[str, t.Any]:
    """The lab's DR plan as the AWX inventory stores it: secrets are references to injected variables.

    AWX attaches one credential per credential type to a job, so the secondary
    site's own passwords (docs/awx.md: that needs a second set of credential
    types) stay in the inventory's plan as the lab wrote them.
    """
    plan = json.loads(json.dumps(lab_plan))
    plan["repository"]["encryption_identity_file"] = "{{ dr_repository_identity_file }}"
    components = {component["name"]: component for component in plan["components"]}
    components["orders-db"]["connection"].update(login_user="{{ dr_database_user }}",
                                                 login_password="{{ dr_database_password }}")
    components["sessions"]["connection"]["login_password"] = "{{ dr_redis_password }}"
    plan["dns"].update(tsig_key_name="{{ dr_tsig_key_name }}", tsig_key_secret="{{ dr_tsig_key_secret }}",
                       tsig_algorithm="{{ dr_tsig_key_algorithm }}")
    for credential in plan["security"]["credentials"]:
        if "aws" in credential:
            # The keys come from the Amazon Web Services credential's environment; AWX injects no region.
            credential["aws"] = {"endpoint_url": credential["aws"]["endpoint_url"], "region": credential["aws"]["region"]}
    # Where each component's restore and each service's commands run, as a real plan says (docs/dr-plan.md).
    for component in components.values():
        component["host"] = LAB_PLAN_HOSTS[component["name"]]
    for service in plan["services"]:
        service["host"] = LAB_PLAN_HOSTS["app"]
    return plan


# The hosts of the AWX plan: the lab's servers run on this machine, under these names.
LAB_PLAN_HOSTS = {"orders-db": "db1.shopfront.lab", "sessions": "cache1.shopfront.lab", "uploads": "app1.shopfront.lab",
                  "app": "app1.shopfront.lab"}


def lab_awx_hosts(plan: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """configure.yml's `awx_hosts` for the lab: the plan's hosts, reached with the local connection here where
    an operator gives ansible_host (the Machine credential's user and key are on every job all the same)."""
    return [{"name": host, "variables": {"ansible_connection": "local",
                                         "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}
            for host in sorted(plan_hosts(plan))]


class JobRun(PlaybookRun):
    """A job's outcome with ansible-runner's status (what AWX shows: successful, failed...)."""

    def __init__(self, status: str, rc: int, stdout: str, events: list[dict[str, t.Any]]) -> None:
        super().__init__(rc, stdout, events)
        self.status = status


class AwxJobs:
    """Launches jobs of awx/templates.yml through ansible-runner as AWX would."""

    def __init__(self, lab: dict[str, t.Any], plan: dict[str, t.Any], workdir: Path,
                 configure_vars: dict[str, t.Any]) -> None:
        self.lab = lab
        self.plan = plan
        self.workdir = workdir
        self.inputs = credential_inputs(lab)
        # What the operator gives configure.yml besides awx/templates.yml.
        self.configure_vars = {**configure_vars, "awx_hosts": lab_awx_hosts(plan)}
        self.count = 0

    def launch(self, name: str, answers: dict[str, t.Any] | None = None, *, job_type: str = "run",
               job_tags: str | None = None, survey: list[dict[str, t.Any]] | None = None,
               env: dict[str, str] | None = None) -> JobRun:
        import ansible_runner

        template = JOB_TEMPLATES[name]
        self.count += 1
        private = self.workdir / f"job{self.count}"
        (private / "inventory").mkdir(parents=True)
        hosts = TEMPLATES["awx_inventory"]["hosts"] + self.configure_vars["awx_hosts"]
        (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {
            "hosts": {host["name"]: host.get("variables") or {} for host in hosts},
            "vars": {"dr_plan": self.plan},
        }}))
        extra_vars = launch_extra_vars(template, template["survey"] if survey is None else survey, answers or {},
                                       self.configure_vars)
        injected, environment = inject_credentials(template["credentials"], self.inputs, private)
        builtin_cmdline, builtin_environment, ssh_key = inject_builtin_credentials(
            [name for name in template["credentials"] if name in BUILTIN_CREDENTIAL_TYPES], self.inputs)
        (private / "credentials").mkdir(mode=0o700, exist_ok=True)
        injected_file = private / "credentials" / "extra_vars.yml"
        injected_file.write_text(yaml.dump(injected, Dumper=_UnsafeDumper))
        injected_file.chmod(0o600)

        # awx/configure.yml creates every job template with ask_job_type_on_launch: true.
        assert job_type in ("run", "check"), job_type
        if job_tags is not None:
            assert template.get("ask_tags_on_launch"), f"{name!r} does not prompt for tags; AWX would drop {job_tags!r}"
        tags = job_tags if job_tags is not None else template.get("job_tags") or None
        cmdline = builtin_cmdline + ["-e", f"@{injected_file}"] + (["--check"] if job_type == "check" else [])
        envvars = {**execution_environment_env(), "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
                   "DR_STATE_DIR": str(private / "state"), **environment, **builtin_environment, **(env or {})}
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(REPOSITORY_ROOT),
            playbook=str(REPOSITORY_ROOT / template["playbook"]),
            extravars=extra_vars,
            cmdline=" ".join(cmdline),
            tags=tags,
            skip_tags=template.get("skip_tags") or None,
            envvars=envvars,
            ssh_key=ssh_key,
            quiet=True,
            suppress_env_files=True,
        )
        stdout = runner.stdout.read() if runner.stdout else ""
        return JobRun(runner.status, runner.rc, stdout, list(runner.events))


# --- What users see -------------------------------------------------------------------------------

def database(lab: dict, site: str = "primary", name: str = "shopfront"):
    server = lab["sites"][site]["postgresql"]
    connection = psycopg2.connect(host=server["host"], port=server["port"], user=server["user"],
                                  password=server["password"], dbname=name, connect_timeout=5)
    connection.autocommit = True
    return connection


def cache(lab: dict, site: str = "primary") -> redis.Redis:
    server = lab["sites"][site]["redis"]
    return redis.Redis(host=server["host"], port=server["port"], password=server["password"], socket_timeout=5)


def snapshot(lab: dict, site: str = "primary") -> dict[str, t.Any]:
    """The application's data on a site: rows, keys and files (with checksums)."""
    with database(lab, site) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('awx_orders') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM awx_orders t")
            orders = tuple(cursor.fetchone())
        else:
            orders = (0, None)
    client = cache(lab, site)
    keys = sorted(client.scan_iter(match="awx:*"))
    uploads = Path(lab["sites"][site]["app"]["uploads"]) / "awx"
    files = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
             for path in sorted(uploads.glob("*")) if path.is_file()} if uploads.is_dir() else {}
    return {"orders": orders, "keys": dict(zip(keys, client.mget(keys) if keys else [])), "files": files}


def healthy(lab: dict, site: str) -> bool:
    for service in ("api", "worker"):
        try:
            with urllib.request.urlopen(lab["sites"][site]["app"]["services"][service]["url"], timeout=5) as reply:
                if reply.status != 200:
                    return False
        except OSError:
            return False
    return True


def verified_backups(plan: dict[str, t.Any]) -> dict[str, set[str]]:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

    repository = open_repository({"repository": plan["repository"]["location"]})
    return {component: {entry.backup_id for entry in repository.list_backups(component) if entry.status == "verified"}
            for component in ("orders-db", "sessions", "uploads")}


def address(lab: dict, site: str) -> list[str]:
    return [lab["sites"][site]["address"]]


def assert_ok(run: JobRun, what: str) -> None:
    assert run.status == "successful" and run.ok, f"{what}: {run.status} (rc {run.rc})\n{run.tail(120)}"


def assert_no_secret_printed(run: PlaybookRun, lab: dict) -> None:
    primary = lab["sites"]["primary"]
    for secret in (primary["postgresql"]["password"], primary["redis"]["password"], lab["dns"]["tsig_key_secret"]):
        assert secret not in run.stdout, "a credential's secret was printed in the job output"


# --- Fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jobs(lab, tmp_path_factory, report_store) -> AwxJobs:
    lab_plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"]
    return AwxJobs(lab, awx_plan(lab_plan), tmp_path_factory.mktemp("awx"), report_store.configure_vars)


class ReportStore:
    """The S3 prefix the jobs' reports go to (a bucket of the lab's S3 server), read as an operator would."""

    def __init__(self, lab: dict[str, t.Any]) -> None:
        facts = lab["aws"]
        self.client = boto3.client("s3", endpoint_url=facts["endpoint_url"], region_name=facts["region"],
                                   aws_access_key_id=facts["access_key"], aws_secret_access_key=facts["secret_key"])
        self.bucket = f"awx-reports-{uuid.uuid4().hex[:8]}"
        self.prefix = "shopfront/awx"
        self.configure_vars = {"awx_report_s3_url": f"s3://{self.bucket}/{self.prefix}",
                               "awx_report_s3_endpoint_url": facts["endpoint_url"]}

    def runs(self) -> set[str]:
        """The run ids under the prefix (aws s3 ls s3://BUCKET/PREFIX/)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/",
                                                                      Delimiter="/")
        return {entry["Prefix"][len(self.prefix) + 1:].rstrip("/") for page in pages
                for entry in page.get("CommonPrefixes", [])}

    def report(self, run: str) -> dict[str, t.Any]:
        """report.json of a run (aws s3 cp s3://BUCKET/PREFIX/RUN/report.json -), checking how it is stored."""
        names = {item["Key"].rsplit("/", 1)[-1] for item in self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=f"{self.prefix}/{run}/")["Contents"]}
        assert names == {"report.json", "report.md", "report.html"}, names
        stored = self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{run}/report.json")
        assert stored["ServerSideEncryption"] == "AES256", "the report must be stored encrypted"
        return json.loads(stored["Body"].read())

    def new_report(self, before: set[str], playbook: str) -> dict[str, t.Any]:
        """The one report a job left, after the job (the job's container is gone by then in AWX)."""
        new = sorted(run for run in self.runs() - before if run.endswith(f"-{playbook}"))
        assert len(new) == 1, f"expected one new report of {playbook} in s3://{self.bucket}/{self.prefix}/, found {new}"
        return self.report(new[0])


@pytest.fixture(scope="module")
def report_store(lab) -> t.Iterator[ReportStore]:
    store = ReportStore(lab)
    store.client.create_bucket(Bucket=store.bucket)
    yield store
    for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket):
        for item in page.get("Contents", []):
            store.client.delete_object(Bucket=store.bucket, Key=item["Key"])
    store.client.delete_bucket(Bucket=store.bucket)


def environment_file(path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


def thaw_secondary(lab: dict) -> None:
    """The failback jobs leave the secondary retired, its writes frozen: the tests after these take it as the lab
    made it (what a thaw by hand does, docs/runbooks.md)."""
    with database(lab, "secondary", "postgres") as admin, admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'shopfront'")
        if cursor.fetchone():
            cursor.execute("ALTER DATABASE shopfront RESET default_transaction_read_only")
            cursor.execute("ALTER DATABASE shopfront RESET resilience_dr.write_freeze")
    client = cache(lab, "secondary")
    if int(client.config_get("min-replicas-to-write")["min-replicas-to-write"]) >= 1_000_000_000:
        client.config_set("min-replicas-to-write", 0)
        client.config_set("min-replicas-max-lag", 10)


@pytest.fixture(scope="module", autouse=True)
def lab_as_others_expect_it(lab) -> t.Iterator[None]:
    """Whatever happens: services on the primary, DNS on the primary, the lab's application passwords."""
    dns_before = answer(lab)
    app = lab["sites"]["primary"]["app"]
    original_environment = Path(app["environment_file"]).read_text()
    redis_config = Path(lab["sites"]["primary"]["redis"]["config"])
    original_redis_config = redis_config.read_text()
    yield
    primary = lab["sites"]["primary"]
    for server in ("postgresql", "redis"):
        if lab_ctl(primary[server]["ctl"], "status").strip() != "running":
            lab_ctl(primary[server]["ctl"], "start")
    if Path(app["environment_file"]).read_text() != original_environment:
        # The security incident job rotated the application's passwords: put the lab's back.
        put_back_app_credentials(lab, original_environment, original_redis_config)
    for service in ("api", "worker"):
        lab_ctl(lab["sites"]["secondary"]["app"]["services"][service]["ctl"], "stop")
        lab_ctl(app["services"][service]["ctl"], "restart")
    if answer(lab) != dns_before:
        set_record(lab, dns_before[0], dns_before[1])
    thaw_secondary(lab)
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS awx_orders")
    client = cache(lab)
    keys = list(client.scan_iter(match="awx:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="module")
def seeded(lab) -> dict[str, t.Any]:
    """Data of every component on the primary, as the backup job will find it."""
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS awx_orders (id integer PRIMARY KEY, item text NOT NULL)")
        cursor.execute("TRUNCATE awx_orders")
        cursor.execute("INSERT INTO awx_orders SELECT g, 'order ' || g FROM generate_series(1, 1500) g")
        cursor.execute("GRANT ALL ON awx_orders TO shopfront")
    client = cache(lab)
    client.mset({f"awx:{number}": f"session {number}" for number in range(300)})
    uploads = Path(lab["sites"]["primary"]["app"]["uploads"]) / "awx"
    uploads.mkdir(parents=True, exist_ok=True)
    for number in range(10):
        (uploads / f"upload-{number}.bin").write_bytes(bytes([number]) * (2000 + number))
    return snapshot(lab)


@pytest.fixture(scope="module")
def backed_up(jobs, lab, seeded, report_store) -> dict[str, t.Any]:
    before = verified_backups(jobs.plan)
    reports = report_store.runs()
    run = jobs.launch("resilience.dr backup")
    assert_ok(run, "backup job")
    assert_no_secret_printed(run, lab)
    return {"before": before, "after": verified_backups(jobs.plan), "data": seeded, "run": run,
            "report": report_store.new_report(reports, "backup")}


def delegated_hosts(run: JobRun) -> set[tuple[str, str]]:
    """(host, remote user) of the tasks a job delegated to a host (where a plan's `host:` sent them)."""
    found = set()
    for event in run.events:
        delegated = (event.get("event_data", {}).get("res") or {}).get("_ansible_delegated_vars")
        if event.get("event") == "runner_on_ok" and delegated:
            found.add((delegated["ansible_host"], delegated["ansible_user"]))
    return found


# --- One test per job template --------------------------------------------------------------------

def test_backup_template_puts_a_verified_backup_of_every_component_in_the_repository(backed_up):
    for component, found in backed_up["after"].items():
        assert found - backed_up["before"][component], f"the backup job left no new verified backup of {component}"


def test_backup_job_runs_each_component_on_the_host_the_plan_names(jobs, backed_up):
    """The plan's hosts are in the inventory configure.yml builds, and the job's tasks reach them as the
    Machine credential's user."""
    assert plan_hosts(jobs.plan) == {"db1.shopfront.lab", "cache1.shopfront.lab", "app1.shopfront.lab"}
    reached = delegated_hosts(backed_up["run"])
    assert {(host, MACHINE_USER) for host in plan_hosts(jobs.plan)} <= reached, reached


def test_backup_job_report_is_in_the_s3_prefix_after_the_job(backed_up):
    report = backed_up["report"]
    assert report["run"]["ok"] and report["playbook"]["name"] == "backup"
    backups = {entry["component"] for entry in report["components"] if entry["backups"]}
    assert backups == {"orders-db", "sessions", "uploads"}, backups


def test_rpo_check_template_passes_after_the_backup_job(jobs, lab, backed_up):
    run = jobs.launch("resilience.dr rpo check")
    assert_ok(run, "rpo check job")
    assert_no_secret_printed(run, lab)


def test_restore_test_template_restores_every_component_into_a_sandbox(jobs, lab, backed_up):
    run = jobs.launch("resilience.dr restore test")
    assert_ok(run, "restore test job")
    assert_no_secret_printed(run, lab)


def test_level3_workflow_nodes_run_in_order_then_failback(jobs, lab, backed_up):
    """restore -> verify -> (approval: a human in AWX, skipped here) -> dns_failover, then failback.

    Right after the backup job: the DNS node's RPO gate (the plan's 900 s)
    must find data younger than that, however slow the machine."""
    nodes = {node["identifier"]: node for node in WORKFLOW["nodes"]}
    order, current = [], "restore"
    while current:
        order.append(current)
        following = nodes[current]["related"]["success_nodes"]
        current = following[0]["identifier"] if following else None
    assert order == ["restore", "verify", "approve", "dns_failover"]

    # Wipe the secondary's copy (if an earlier run left one) so the restore node has to bring it back.
    admin = database(lab, "secondary", "postgres")
    try:
        admin.cursor().execute("DROP DATABASE IF EXISTS shopfront WITH (FORCE)")  # outside a transaction block
    finally:
        admin.close()
    answers = {"confirm": "yes"}
    for identifier in order:
        node = nodes[identifier]
        if node["unified_job_template"]["type"] == "workflow_approval":
            continue  # AWX waits for a human; the test approves by going on.
        run = jobs.launch(node["unified_job_template"]["name"], answers, job_tags=node["job_tags"],
                          survey=WORKFLOW["survey"])
        assert_ok(run, f"workflow node {identifier}")
        if identifier == "restore":
            assert snapshot(lab, "secondary") == backed_up["data"]
            assert not healthy(lab, "secondary"), "the restore node must not start services"
            assert answer(lab)[0] == address(lab, "primary"), "the restore node must not move DNS"
        elif identifier == "verify":
            assert healthy(lab, "secondary")
            assert answer(lab)[0] == address(lab, "primary"), "the verify node must not move DNS"
        else:
            assert answer(lab)[0] == address(lab, "secondary")

    back = jobs.launch("resilience.dr failback", {"confirm": "yes"})
    assert_ok(back, "failback job after the workflow")
    assert answer(lab)[0] == address(lab, "primary")
    assert healthy(lab, "primary") and not healthy(lab, "secondary")


def test_level1_template_refuses_on_the_survey_default_then_restores_the_component(jobs, lab, backed_up, report_store):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM awx_orders WHERE id > 700")
        cursor.execute("UPDATE awx_orders SET item = 'corrupted' WHERE id % 7 = 0")
    damaged = snapshot(lab)["orders"]

    # The operator names the component and leaves confirm at its default, no.
    refused = jobs.launch("resilience.dr level 1 - restore a component", {"component": "orders-db"})
    assert refused.status == "failed" and "-e confirm=yes" in refused.stdout, refused.tail()
    assert snapshot(lab)["orders"] == damaged, "confirm left at its default 'no' must change nothing"

    reports = report_store.runs()
    run = jobs.launch("resilience.dr level 1 - restore a component", {"component": "orders-db", "confirm": "yes"})
    assert_ok(run, "level 1 job")
    assert_no_secret_printed(run, lab)
    assert snapshot(lab)["orders"] == backed_up["data"]["orders"]
    assert healthy(lab, "primary")
    # What the incident review reads after the job: the report in the S3 prefix names the restore.
    report = report_store.new_report(reports, "level1_component")
    assert report["run"]["ok"] and report["rto_seconds"] is not None
    # The plan is the inventory's: the report compares with its targets all the same.
    assert report["application"] == "shopfront" and report["targets"]["verdict"] == "met", report["targets"]
    restored = [entry for entry in report["components"] if entry["restores"]]
    assert [entry["component"] for entry in restored] == ["orders-db"]
    # The newest verified backup (the jobs before this one may have taken newer ones than the backup job's).
    assert restored[0]["backup_id"] == max(verified_backups(jobs.plan)["orders-db"])


def test_level2_template_restores_every_component(jobs, lab, backed_up, report_store):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM awx_orders")
    client = cache(lab)
    client.delete(*list(client.scan_iter(match="awx:*")))
    for path in (Path(lab["sites"]["primary"]["app"]["uploads"]) / "awx").iterdir():
        path.unlink()

    reports = report_store.runs()
    run = jobs.launch("resilience.dr level 2 - restore the application", {"confirm": "yes"})
    assert_ok(run, "level 2 job")
    assert snapshot(lab) == backed_up["data"]
    assert healthy(lab, "primary")
    report = report_store.new_report(reports, "level2_application")
    assert {entry["component"] for entry in report["components"] if entry["restores"]} == {"orders-db", "sessions", "uploads"}


def test_app_recovery_template_restarts_only_the_services_named_in_the_survey(jobs, lab, report_store):
    services = lab["sites"]["primary"]["app"]["services"]

    def pid(name: str) -> str:
        found = re.search(r"\(pid (\d+)\)", lab_ctl(services[name]["ctl"], "status"))
        assert found, f"{name} is not running"
        return found.group(1)

    before = {name: pid(name) for name in ("api", "worker")}
    reports = report_store.runs()
    run = jobs.launch("resilience.dr application recovery", {"app_services": "api", "confirm": "yes"})
    assert_ok(run, "application recovery job")
    assert pid("api") != before["api"], "api was restarted"
    assert pid("worker") == before["worker"], "a service not named is left running"
    assert healthy(lab, "primary")
    report = report_store.new_report(reports, "app_recovery")
    assert report["run"]["ok"]
    assert any(task["name"].endswith('Record the step "api restarted, healthy"') for task in report["tasks"])


@pytest.mark.skipif(not FULL, reason="the level 3 workflow runs level3_site.yml for real; set AWX_JOBS_FULL=1")
def test_level3_template_fails_over_and_failback_template_returns(jobs, lab, backed_up):
    assert answer(lab)[0] == address(lab, "primary")
    # Fresh backups: the jobs above took minutes, and the DNS step's RPO gate allows 900 s.
    assert_ok(jobs.launch("resilience.dr backup"), "backup job before level 3")
    run = jobs.launch("resilience.dr level 3 - site failover", {"confirm": "yes"})
    assert_ok(run, "level 3 job")
    assert_no_secret_printed(run, lab)
    assert answer(lab)[0] == address(lab, "secondary")
    assert healthy(lab, "secondary")
    assert snapshot(lab, "secondary") == backed_up["data"]

    back = jobs.launch("resilience.dr failback", {"confirm": "yes"})
    assert_ok(back, "failback job")
    assert answer(lab)[0] == address(lab, "primary")
    assert healthy(lab, "primary") and not healthy(lab, "secondary")
    assert snapshot(lab) == backed_up["data"]


@pytest.mark.skipif(FULL, reason="runs for real in test_level3_template_fails_over_and_failback_template_returns")
def test_level3_template_as_a_check_job_moves_nothing(jobs, lab, backed_up):
    """Job type Check (every template prompts for it): the one-run level 3 template previews the
    failover. Its playbook runs for real, stage by stage, through the workflow test above."""
    before = answer(lab)
    assert before[0] == address(lab, "primary")
    run = jobs.launch("resilience.dr level 3 - site failover", {"confirm": "yes"}, job_type="check")
    assert_ok(run, "level 3 check job")
    assert_no_secret_printed(run, lab)
    restores = [result for result in run.results() if "backup_id" in result and result.get("component")]
    assert {result["component"] for result in restores} == {"orders-db", "sessions", "uploads"}, \
        "the preview must plan a restore of every component"
    assert answer(lab) == before and not healthy(lab, "secondary")


def test_security_incident_template_rotates_the_application_passwords(jobs, lab, backed_up):
    app = lab["sites"]["primary"]["app"]
    old = environment_file(app["environment_file"])["SHOPFRONT_DB_PASSWORD"]
    primary = lab["sites"]["primary"]["postgresql"]

    def login(password: str) -> bool:
        try:
            psycopg2.connect(host=primary["host"], port=primary["port"], dbname="shopfront", user="shopfront",
                             password=password, connect_timeout=5).close()
            return True
        except psycopg2.OperationalError:
            return False

    assert login(old)
    run = jobs.launch("resilience.dr security incident", {"confirm": "yes"})
    assert_ok(run, "security incident job")
    assert_no_secret_printed(run, lab)
    new = environment_file(app["environment_file"])["SHOPFRONT_DB_PASSWORD"]
    assert new != old and login(new)
    assert not login(old), "the old application password must be refused"
    assert healthy(lab, "primary")
