# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX configuration (awx/) and the execution environment definition.

No lab needed: these tests read awx/templates.yml and the playbooks it names,
syntax-check awx/configure.yml and let ansible-builder produce the build
context of execution-environment.yml (building the image needs a container
engine and is not part of the tests).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import typing as t
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from dateutil.rrule import rrulestr

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Tags of level3_site.yml the level 3 workflow runs one by one.
LEVEL3_STAGE_TAGS = {"restore", "verify", "dns_failover"}
# Templates that only read production: everything else must ask for confirm.
NON_DESTRUCTIVE = {"playbooks/backup.yml", "playbooks/rpo_check.yml", "playbooks/restore_test.yml"}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}

TEMPLATES = yaml.safe_load((ROOT / "awx" / "templates.yml").read_text().replace("!unsafe ", ""))
JOB_TEMPLATES = TEMPLATES["awx_job_templates"]
WORKFLOWS = TEMPLATES["awx_workflows"]
SCHEDULES = TEMPLATES["awx_schedules"]
# The job template each scheduled job runs, by the playbook it runs.
SCHEDULED = {"playbooks/backup.yml": "resilience.dr backup", "playbooks/restore_test.yml": "resilience.dr restore test",
             "playbooks/rpo_check.yml": "resilience.dr rpo check"}


def playbook_text(playbook: str) -> str:
    return (ROOT / playbook).read_text()


def accepted_variables(playbook: str) -> set[str]:
    """The variables a playbook accepts: every name its text uses or documents
    (header comment, vars, asserts, templates)."""
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", playbook_text(playbook)))


def playbook_tags(node: t.Any) -> set[str]:
    """Every tag set anywhere in a playbook (tasks, blocks, includes' `apply`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "tags":
                found.update([value] if isinstance(value, str) else value)
            else:
                found |= playbook_tags(value)
    elif isinstance(node, list):
        for item in node:
            found |= playbook_tags(item)
    return found


def template_id(template: dict[str, t.Any]) -> str:
    return template["name"]


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=template_id)
def test_job_template_names_a_playbook_of_this_repository(template: dict[str, t.Any]) -> None:
    playbook = template["playbook"]
    assert (ROOT / playbook).is_file(), f"job template {template['name']!r} runs {playbook}, which is not in the repository"


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=template_id)
def test_survey_asks_only_for_variables_the_playbook_accepts(template: dict[str, t.Any]) -> None:
    playbook = template["playbook"]
    accepted = accepted_variables(playbook)
    asked = [question["variable"] for question in template["survey"]]
    unknown = sorted(set(asked) - accepted)
    assert not unknown, f"{template['name']!r} asks for {unknown}, which {playbook} does not use"
    assert len(asked) == len(set(asked)), f"{template['name']!r} asks twice for the same variable: {asked}"


@pytest.mark.parametrize("template", JOB_TEMPLATES + WORKFLOWS, ids=template_id)
def test_survey_questions_are_valid_for_awx(template: dict[str, t.Any]) -> None:
    for question in template["survey"]:
        where = f"{template['name']!r} question {question.get('variable')!r}"
        for key in ("question_name", "variable", "type", "required"):
            assert key in question, f"{where} lacks {key}"
        assert question["type"] in SURVEY_TYPES, f"{where} has type {question['type']!r}"
        if question["type"] == "multiplechoice":
            choices = question["choices"]
            assert all(isinstance(choice, str) for choice in choices), f"{where}: choices must be strings"
            if "default" in question:
                assert question["default"] in choices, f"{where}: default not among {choices}"
        if question["type"] == "multiselect":
            # AWX passes the answers as a list; the default is newline separated.
            defaults = [value for value in question.get("default", "").split("\n") if value]
            assert set(defaults) <= set(question["choices"]), f"{where}: default not among the choices"


@pytest.mark.parametrize(
    "template",
    [template for template in JOB_TEMPLATES if template["playbook"] not in NON_DESTRUCTIVE and template["survey"]],
    ids=template_id,
)
def test_destructive_templates_ask_for_confirm_defaulting_to_no(template: dict[str, t.Any]) -> None:
    confirm = [question for question in template["survey"] if question["variable"] == "confirm"]
    assert confirm, f"{template['name']!r} runs {template['playbook']} without asking for confirm"
    assert confirm[0]["default"] == "no" and confirm[0]["required"]
    assert set(confirm[0]["choices"]) == {"yes", "no"}


def test_level1_requires_a_component() -> None:
    level1 = next(template for template in JOB_TEMPLATES if template["playbook"] == "playbooks/level1_component.yml")
    component = next(question for question in level1["survey"] if question["variable"] == "component")
    assert component["required"] is True


def test_level3_workflow_runs_restore_verify_approval_then_dns() -> None:
    workflow = WORKFLOWS[0]
    nodes = {node["identifier"]: node for node in workflow["nodes"]}
    order = []
    current = "restore"
    while current:
        order.append(current)
        following = nodes[current]["related"]["success_nodes"]
        assert len(following) <= 1, f"node {current} branches: {following}"
        current = following[0]["identifier"] if following else None
    assert order == ["restore", "verify", "approve", "dns_failover"]
    assert nodes["approve"]["unified_job_template"]["type"] == "workflow_approval"

    stage_names = {template["name"]: template for template in JOB_TEMPLATES}
    tags = playbook_tags(yaml.safe_load(playbook_text("playbooks/level3_site.yml")))
    for identifier in ("restore", "verify", "dns_failover"):
        node = nodes[identifier]
        template = stage_names[node["unified_job_template"]["name"]]
        assert template["playbook"] == "playbooks/level3_site.yml"
        assert template.get("ask_tags_on_launch"), f"{template['name']!r} must prompt for tags"
        assert node["job_tags"] in LEVEL3_STAGE_TAGS
        assert node["job_tags"] in tags, (
            f"playbooks/level3_site.yml has no tag {node['job_tags']!r} for workflow node {identifier} "
            f"(tags: {sorted(tags)})"
        )
    # The plan check and the confirmation run in every stage.
    assert "always" in tags, "playbooks/level3_site.yml must tag its plan check `always`"
    asked = {question["variable"] for question in workflow["survey"]}
    assert asked <= accepted_variables("playbooks/level3_site.yml")
    assert "confirm" in asked


def test_backup_restore_test_and_rpo_check_are_scheduled() -> None:
    assert sorted(schedule["job_template"] for schedule in SCHEDULES) == sorted(SCHEDULED.values())
    assert len({schedule["name"] for schedule in SCHEDULES}) == len(SCHEDULES)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=template_id)
def test_schedule_launches_a_job_template_of_this_file(schedule: dict[str, t.Any]) -> None:
    playbook = next(playbook for playbook, name in SCHEDULED.items() if name == schedule["job_template"])
    templates = {template["name"]: template for template in JOB_TEMPLATES}
    assert schedule["job_template"] in templates, f"schedule {schedule['name']!r} launches an undeclared job template"
    assert templates[schedule["job_template"]]["playbook"] == playbook
    # A scheduled job gets no answers: every question it would be asked has a default.
    for question in templates[schedule["job_template"]]["survey"]:
        assert not question["required"] or "default" in question, f"{schedule['name']!r}: {question['variable']}"
    assert "extra_data" not in schedule, "the job templates take no extra variables beyond their surveys"


@pytest.mark.parametrize("schedule", SCHEDULES, ids=template_id)
def test_schedule_rrule_is_valid_for_awx(schedule: dict[str, t.Any]) -> None:
    """The rules AWX checks (a DTSTART with its time zone, one RRULE with FREQ and INTERVAL, no SECONDLY, no
    COUNT over 999), then the rule parsed as AWX parses it, with the next run within a day or so."""
    rrule = schedule["rrule"]
    assert re.fullmatch(r"DTSTART;TZID=[A-Za-z_/+-]+:\d{8}T\d{6} RRULE:[A-Z0-9=;,+-]+", rrule), rrule
    rule = dict(part.split("=", 1) for part in rrule.split(" RRULE:")[1].split(";"))
    assert rule.get("FREQ") in {"MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}, rrule
    assert "INTERVAL" in rule and int(rule["INTERVAL"]) >= 1, f"AWX needs INTERVAL: {rrule}"
    assert int(rule.get("COUNT", 1)) <= 999 and not ("COUNT" in rule and "UNTIL" in rule)
    parsed = rrulestr(rrule.replace(" RRULE:", "\nRRULE:"), forceset=True)
    now = datetime.now(timezone.utc)
    following = parsed.after(now)
    assert following is not None and (following - now).total_seconds() <= 8 * 24 * 3600, rrule


@pytest.mark.parametrize("credential_type", TEMPLATES["awx_credential_types"], ids=template_id)
def test_credential_type_injects_only_its_inputs_and_hides_secrets(credential_type: dict[str, t.Any]) -> None:
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    for name in ("password", "key_secret", "secret_key", "session_token", "identity"):
        if name in fields:
            assert fields[name].get("secret") is True, f"{credential_type['name']!r}: {name} is not secret"
    assert set(credential_type["inputs"]["required"]) <= set(fields)
    for section in credential_type["injectors"].values():
        for value in section.values():
            for used in re.findall(r"\{\{\s*([A-Za-z_]+)", value):
                assert used in fields or used == "tower", f"{credential_type['name']!r} injects unknown {used!r}"


# AWX's own credential types: SSH to the plan's hosts, and AWS keys in the environment.
BUILTIN_CREDENTIAL_TYPES = {"Machine", "Amazon Web Services"}


def test_job_template_credentials_are_defined_types() -> None:
    types = {credential_type["name"] for credential_type in TEMPLATES["awx_credential_types"]}
    assert set(TEMPLATES["awx_builtin_credential_types"]) == BUILTIN_CREDENTIAL_TYPES
    assert not types & BUILTIN_CREDENTIAL_TYPES, "a custom credential type must not take the name of one of AWX's"
    for template in JOB_TEMPLATES:
        assert set(template["credentials"]) <= types | BUILTIN_CREDENTIAL_TYPES, template["name"]


def test_aws_keys_come_from_awxs_own_credential_type() -> None:
    """AWX's Amazon Web Services type injects AWS_ACCESS_KEY_ID and friends; a custom type doing the same would
    be a second place for the same keys (and AWX refuses two credentials setting one variable on a job)."""
    for credential_type in TEMPLATES["awx_credential_types"]:
        injected = set((credential_type["injectors"].get("env") or {}))
        assert not {name for name in injected if name.startswith("AWS_")}, credential_type["name"]


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=template_id)
def test_job_template_gets_every_credential_type(template: dict[str, t.Any]) -> None:
    """Every playbook resolves the whole plan first: a variable the plan refers to (the TSIG key in a
    backup job, say) that no credential of the job injects fails the job before it does anything; and the
    plan's hosts are reached with the Machine credential, AWS with the Amazon Web Services one."""
    every = {kind["name"] for kind in TEMPLATES["awx_credential_types"]} | BUILTIN_CREDENTIAL_TYPES
    missing = every - set(template["credentials"])
    assert not missing, f"{template['name']!r} lacks credential types {sorted(missing)}"


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=template_id)
def test_job_template_tells_the_report_callback_where_the_report_goes(template: dict[str, t.Any]) -> None:
    """A job template has no environment of its own: the extra vars the dr_report callback reads at play start
    carry the S3 prefix, filled in by configure.yml from its own variables."""
    from ansible_collections.resilience.dr.plugins.plugin_utils._report.upload import OVERRIDES

    extra_vars = template.get("extra_vars") or {}
    assert extra_vars.get("dr_report_s3_url") == "{{ awx_report_s3_url }}", template["name"]
    assert set(extra_vars) <= set(OVERRIDES.values()), f"{template['name']!r}: the callback reads no {sorted(extra_vars)}"
    configure = (ROOT / "awx" / "configure.yml").read_text()
    for used in re.findall(r"\{\{\s*([A-Za-z0-9_]+)", " ".join(extra_vars.values())):
        assert re.search(rf"^    {used}:", configure, re.M), f"configure.yml does not define {used}"


def test_execution_environment_enables_the_report_callback() -> None:
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    final = definition["additional_build_steps"]["append_final"]
    assert "ENV ANSIBLE_CALLBACKS_ENABLED=resilience.dr.dr_report" in final


def test_project_tag_and_image_follow_the_collection_version() -> None:
    """The playbooks (project checkout) and the roles and modules (the image) come from the same release."""
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert TEMPLATES["awx_project"]["scm_branch"] == f"v{version}", "awx_project.scm_branch must be the release tag"
    image = TEMPLATES["awx_execution_environment"]["image"]
    assert image.rsplit(":", 1)[-1] == version, f"the execution environment {image} must be tagged {version}"


@pytest.mark.parametrize("template", JOB_TEMPLATES, ids=template_id)
def test_job_template_runs_a_playbook_the_collection_ships(template: dict[str, t.Any]) -> None:
    """The lab-only playbooks (the drill reads .lab/lab.json) have no place in AWX."""
    text = playbook_text(template["playbook"])
    assert "lab.json" not in text and "LAB_DIR" not in text, f"{template['playbook']} needs the lab"
    galaxy = (ROOT / "galaxy.yml").read_text()
    assert not re.search(rf"^\s*- exclude .*\b{re.escape(template['playbook'])}\b", galaxy, re.M), \
        f"{template['playbook']} is not shipped in the collection"


def test_configure_playbook_passes_syntax_check() -> None:
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "awx/configure.yml"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


AWX_COLLECTION = ROOT / ".collections" / "ansible_collections" / "awx" / "awx"


def module_documentation(path: Path) -> dict[str, t.Any]:
    """The DOCUMENTATION of a plugin file, read without importing it."""
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(target, ast.Name) and target.id == "DOCUMENTATION" for target in targets):
            return yaml.safe_load(ast.literal_eval(node.value))
        if isinstance(node, ast.ClassDef):
            found = module_documentation_in_class(node)
            if found:
                return found
    raise AssertionError(f"{path} has no DOCUMENTATION")


def module_documentation_in_class(node: ast.ClassDef) -> dict[str, t.Any] | None:
    for item in node.body:
        if isinstance(item, ast.Assign) and any(getattr(target, "id", None) == "DOCUMENTATION" for target in item.targets):
            return yaml.safe_load(ast.literal_eval(item.value))
    return None


def awx_module_options(name: str) -> dict[str, t.Any]:
    """Options of an awx.awx module as the installed collection documents them (fragments included)."""
    path = AWX_COLLECTION / "plugins" / "modules" / f"{name}.py"
    assert path.is_file(), f"awx.awx.{name} is not installed in {AWX_COLLECTION} (make setup installs it)"
    documentation = module_documentation(path)
    options = dict(documentation.get("options") or {})
    fragments = documentation.get("extends_documentation_fragment") or []
    for fragment in [fragments] if isinstance(fragments, str) else fragments:
        namespace, collection, fragment_name = fragment.split(".")[:3]
        assert (namespace, collection) == ("awx", "awx"), fragment
        options.update(module_documentation(AWX_COLLECTION / "plugins" / "doc_fragments" / f"{fragment_name}.py")
                       .get("options") or {})
    return options


def unknown_options(args: dict[str, t.Any], options: dict[str, t.Any], where: str) -> list[str]:
    """Arguments no documented option (or alias) takes, and literal values outside an option's choices;
    documented suboptions are checked the same way, for literal dicts and lists of dicts."""
    names = {alias: name for name, option in options.items() for alias in [name, *(option.get("aliases") or [])]}
    problems = []
    for key, value in args.items():
        if key not in names:
            problems.append(f"{where}: {key!r} is not an option")
            continue
        option = options[names[key]]
        templated = isinstance(value, str) and "{{" in value
        if option.get("choices") and not templated and value not in option["choices"]:
            problems.append(f"{where}: {key}={value!r} is not one of {option['choices']}")
        if option.get("suboptions") and not templated:
            items = value if isinstance(value, list) else [value]
            for number, item in enumerate(items):
                if isinstance(item, dict):
                    problems += unknown_options(item, option["suboptions"], f"{where}.{key}[{number}]")
    return problems


def test_configure_playbook_uses_only_options_the_awx_collection_has() -> None:
    """Without a controller: every awx.awx task of awx/configure.yml, its module_defaults and the
    workflow nodes of awx/templates.yml use options and choices the installed awx.awx modules document."""
    plays = yaml.safe_load((ROOT / "awx" / "configure.yml").read_text().replace("!unsafe ", ""))
    problems: list[str] = []
    used = set()
    for play in plays:
        for group, args in (play.get("module_defaults") or {}).items():
            assert group == "group/awx.awx.controller", group
            problems += unknown_options(args, awx_module_options("job_template"), group)
        for task in play["tasks"]:
            modules = [key for key in task if key.startswith("awx.awx.")]
            for module in modules:
                name = module.split(".")[-1]
                used.add(name)
                problems += unknown_options(task[module], awx_module_options(name), f"{task['name']!r} ({module})")
    assert {"credential_type", "job_template", "workflow_job_template"} <= used
    nodes = awx_module_options("workflow_job_template")["workflow_nodes"]["suboptions"]
    for workflow in WORKFLOWS:
        for node in workflow["nodes"]:
            problems += unknown_options(node, nodes, f"workflow {workflow['name']!r} node {node['identifier']!r}")
    assert not problems, "\n".join(problems)


# What an execution environment installs for each program: (Debian package, RHEL/UBI 9 package).
# The PostgreSQL client is 17, the newest: it dumps and restores servers 13 to 17.
EE_PACKAGES = {
    "pg_dump": ("postgresql-client-17", "postgresql17"),
    "pg_dumpall": ("postgresql-client-17", "postgresql17"),
    "pg_restore": ("postgresql-client-17", "postgresql17"),
    "pgbackrest": ("pgbackrest", "pgbackrest"),
    "redis-cli": ("redis-tools", "redis"),
    "dig": ("bind9-dnsutils", "bind-utils"),
    "zstd": ("zstd", "zstd"),
    "age": ("age", "age"),
}
# Programs the modules run only on a database server's own host (a physical restore, a restore
# test's sandbox cluster or redis-server): they come with the server, never with an execution environment.
SERVER_PROGRAMS = {"initdb", "pg_ctl", "redis-server", "systemctl", "setpriv"}
# ansible-builder's platforms: bindep evaluates the file with these on the image.
PLATFORMS = {"dpkg": ["platform:dpkg", "platform:debian", "default"],
             "rpm": ["platform:rpm", "platform:redhat", "default"]}


def bindep_packages(text: str, platform: str) -> set[str]:
    from bindep.depends import Depends  # installed with ansible-builder

    return {rule[0] for rule in Depends(text).active_rules(PLATFORMS[platform])}


def programs_the_modules_run() -> set[str]:
    """Every program module_utils looks up: program("pg_dump", ...), runner.require("pgbackrest", ...)."""
    found: set[str] = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        found |= set(re.findall(r"""(?:\bprogram|\.require)\(\s*["']([\w.-]+)["']""", path.read_text()))
    return found


def test_bindep_names_every_program_for_debian_and_rhel() -> None:
    text = (ROOT / "bindep.txt").read_text()
    assert bindep_packages(text, "dpkg") == {debian for debian, _rhel in EE_PACKAGES.values()}
    assert bindep_packages(text, "rpm") == {rhel for _debian, rhel in EE_PACKAGES.values()}
    run = programs_the_modules_run()
    assert {"pg_dump", "pg_restore", "pgbackrest"} <= run, run
    assert run - SERVER_PROGRAMS <= set(EE_PACKAGES), f"not in bindep.txt: {run - SERVER_PROGRAMS - set(EE_PACKAGES)}"


EE_FILES = {
    "execution-environment.yml": {"image": "python:3.11-slim-bookworm", "package_manager": "/usr/bin/apt-get", "platform": "dpkg"},
    "execution-environment-ubi.yml": {"image": "registry.access.redhat.com/ubi9/ubi", "package_manager": "/usr/bin/dnf",
                                      "platform": "rpm"},
}


def check_pgdg_apt(containerfile: str) -> None:
    """The PostgreSQL project's apt repository, trusted for itself only, with its key fetched over HTTPS."""
    key = "/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"
    assert re.search(rf"curl --fail .*--output {re.escape(key)} https://www\.postgresql\.org/media/keys/ACCC4CF8\.asc",
                     containerfile), containerfile
    assert f'"deb [signed-by={key}] https://apt.postgresql.org/pub/repos/apt ${{VERSION_CODENAME}}-pgdg main"' \
        in containerfile, containerfile


def check_pgdg_dnf(containerfile: str) -> None:
    """PGDG's PostgreSQL 17 and common repositories with package signatures checked, and EPEL from its signed release package."""
    line = next(line for line in containerfile.splitlines() if "/etc/yum.repos.d/pgdg.repo" in line)
    sections = re.findall(r"'\[([\w-]+)\]'((?:\s+'[^'\[]*')+)", line)
    repos = {name: dict(re.findall(r"'(\w+)=([^']*)'", body)) for name, body in sections}
    assert set(repos) == {"pgdg17", "pgdg-common"}, line
    assert repos["pgdg17"]["baseurl"] == "https://download.postgresql.org/pub/repos/yum/17/redhat/rhel-$releasever-$basearch"
    for repo in repos.values():
        assert repo["gpgcheck"] == "1" and repo["baseurl"].startswith("https://download.postgresql.org/"), repo
        assert all(key.startswith("https://download.postgresql.org/pub/repos/yum/keys/") for key in repo["gpgkey"].split())
    assert re.search(r"rpm --import https://dl\.fedoraproject\.org/pub/epel/RPM-GPG-KEY-EPEL-9 && dnf install -y "
                     r"--setopt=localpkg_gpgcheck=1 https://dl\.fedoraproject\.org/pub/epel/epel-release-latest-9", containerfile)


@pytest.mark.parametrize("definition", sorted(EE_FILES))
def test_execution_environment_build_context(tmp_path: Path, definition: str) -> None:
    expected = EE_FILES[definition]
    context = tmp_path / "context"
    run = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "--file", definition,
         "--context", str(context), "--output-filename", "Containerfile"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    containerfile = (context / "Containerfile").read_text()
    assert expected["image"] in containerfile
    assert f'PKGMGR="{expected["package_manager"]}"' in containerfile
    assert "ansible-galaxy collection install" in containerfile
    # Repositories are added from their keys, never by running a downloaded script.
    assert not re.search(r"\|\s*(sudo\s+)?(ba)?sh\b", containerfile), containerfile
    (check_pgdg_apt if expected["platform"] == "dpkg" else check_pgdg_dnf)(containerfile)
    # The repository setup comes before the packages are installed.
    assert containerfile.index("pgdg") < containerfile.index("install-from-bindep")
    # The image's last check runs a program of every package (pg_dump stands for the PostgreSQL client's).
    final_check = next(line for line in containerfile.splitlines() if "pg_dump --version" in line)
    for program in set(EE_PACKAGES) - {"pg_dumpall", "pg_restore"}:
        assert re.search(rf"\b{re.escape(program)}\b", final_check), f"{program} is not checked by the build"

    build = context / "_build"
    python_requirements = (build / "requirements.txt").read_text()
    for requirement in ("boto3", "botocore", "dnspython", "psycopg2-binary", "pyrage", "redis", "zstandard"):
        assert re.search(rf"^{requirement}\b", python_requirements, re.M), f"{requirement} missing from the EE"
    system = bindep_packages((build / "bindep.txt").read_text(), expected["platform"])
    wanted = {packages[0 if expected["platform"] == "dpkg" else 1] for packages in EE_PACKAGES.values()}
    assert system == wanted, f"{definition} installs {sorted(system)}"

    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    collections = {entry["name"] for entry in galaxy["collections"]}
    assert {"amazon.aws", "community.aws", "community.general", "/build/resilience.dr"} <= collections
    # The collection itself is in the context, with what ansible-builder
    # introspects when it is installed.
    collection = build / "resilience.dr"
    for path in ("galaxy.yml", "meta/execution-environment.yml", "meta/runtime.yml", "requirements.txt",
                 "bindep.txt", "plugins/module_utils/_module.py"):
        assert (collection / path).is_file(), f"{path} missing from the collection in the EE context"


def test_collection_declares_its_execution_environment_dependencies() -> None:
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    for kind in ("python", "system"):
        assert (ROOT / meta["dependencies"][kind]).is_file(), f"{kind}: {meta['dependencies'][kind]} missing"
