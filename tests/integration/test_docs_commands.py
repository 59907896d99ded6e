# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every command the docs show runs as written.

Each ```console block of README.md, docs/*.md and roles/*/README.md either
runs here on the lab or is listed in NOT_RUN with the reason it cannot.

- `<!-- runs-on-lab -->` on the line before a console block: its commands
  (the lines that start with `$ `, a trailing backslash continues one) run
  one after another with bash, in a working directory of their own per
  document that starts with `dr_plan.yml`, the lab's plan. Every command must
  succeed. `<!-- runs-on-lab: from the repository root -->` runs them from the
  repository root instead (the developer's commands).
- `<!-- runs-on-lab: file NAME -->` before any other block (a playbook in
  YAML): the block is written to NAME in that document's working directory,
  for the document's commands to run.

Only what the lab must have is changed in a command, all in SUBSTITUTIONS.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import textwrap
import time
import typing as t
from pathlib import Path

import pytest
import yaml

from .conftest import LAB_DIR, REPOSITORY_ROOT, vaulted_lab_plan

DOCUMENTS = sorted(
    [REPOSITORY_ROOT / "README.md", *(REPOSITORY_ROOT / "docs").glob("*.md"), *(REPOSITORY_ROOT / "roles").glob("*/README.md")]
)
RUNS = "<!-- runs-on-lab -->"
RUNS_FROM_ROOT = "<!-- runs-on-lab: from the repository root -->"
FILE_MARKER = re.compile(r"<!-- runs-on-lab: file (?P<name>[\w.-]+) -->")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<language>[\w-]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)

# What a command must change to run on the lab, and why: (text in the doc, what runs instead, reason).
# {workdir}, {vaulted_plan}, {password_file} and {secrets_file} are the document's working directory and what the
# test puts there.
SUBSTITUTIONS: list[tuple[str, str, str]] = [
    ("~/.ansible/collections/ansible_collections/resilience/dr/examples/shopfront.yml", "{vaulted_plan}",
     "the example plan names servers the lab does not have: the lab's plan, its secrets vault variables as there"),
    ("-e @shopfront.yml", "-e @dr_plan.yml", "the same: the lab's plan instead of the example's"),
    ("ansible-vault create secrets.yml", "ansible-vault encrypt --vault-password-file {password_file} "
     "--output secrets.yml {secrets_file}", "create opens an editor; encrypt stores the same variables"),
    ("--ask-vault-password", "--vault-password-file {password_file}", "the password is asked at a terminal"),
    ("/var/lib/node_exporter/textfile/", "{workdir}/", "node_exporter's directory is not on the lab machine"),
    ("/srv/dr/", "{workdir}/srv/", "a directory the test may write"),
    ("install_backup_timer.yml -e", "install_backup_timer.yml -e backup_timer_enable=false "
     "-e backup_timer_unit_dir={workdir}/units -e",
     "the lab machine has no systemd to enable timers with, and the system's unit directory is not the test's"),
]

# Console blocks that do not run here, by document and the start of their first command, with the reason.
NOT_RUN: dict[tuple[str, str], str] = {
    ("README.md", "ansible-galaxy collection install resilience.dr"):
        "installs from Galaxy, which needs the network; test_galaxy_artifact.py installs the built artifact",
    ("README.md", "ansible-playbook resilience.dr.backup  "):
        "every playbook with confirm=yes, level 3, failback and the security incident included; test_playbooks.py, "
        "test_drill.py and the Molecule scenarios run them on the lab",
    ("README.md", "make drill    #"): "the whole drill and every check (many minutes); CI runs them",
    ("README.md", "make drill DISASTER=site_loss"): "a whole drill (minutes); CI and test_drill.py run it",
    ("docs/dns-failover.md", "tsig-keygen"): "root commands on the system's BIND configuration (root prompt)",
    ("docs/dns-failover.md", "pdnsutil"): "PowerDNS is not installed on the lab",
    ("docs/dns-failover.md", "keymgr"): "Knot DNS is not installed on the lab",
    ("docs/files-and-s3.md", "age -d -i identity.txt"):
        "needs a backup's data file and its identity.txt in the current directory; it is the restore by hand",
    ("docs/lab.md", "make lab-up"): "make lab-down stops the lab the other tests use; make integration starts and stops it",
    ("docs/molecule.md", "make molecule "): "the Molecule scenarios take many minutes; make molecule runs them",
    ("docs/molecule.md", "molecule converge"): "a Molecule scenario, as above",
    ("docs/reports.md", "ANSIBLE_CALLBACKS_ENABLED=resilience.dr.dr_report"):
        "a real restore of orders-db at a fixed incident time; test_dr_report.py runs the report on the lab",
    ("docs/reports.md", "ansible-playbook resilience.dr.level2_application -e @dr_plan.yml -e confirm=yes -e fail_on"):
        "a real level 2 restore of every component; test_dr_report.py fails a run on a missed target with this variable",
    ("docs/reports.md", "jq -e"): "reads the report of a level 2 run, which this test does not make",
    ("docs/runbooks.md", "ansible-playbook resilience.dr.level2_application"):
        "the times are those of an example incident, before the lab's backups",
    ("docs/runbooks.md", "ansible-playbook resilience.dr.level3_site -e @dr_plan.yml --tags infrastructure"):
        "the lab's plan has no Terraform project; test_infrastructure.py runs level 3's infrastructure step with one",
    ("docs/runbooks.md", "ansible-playbook resilience.dr.security_incident -e @dr_plan.yml -e intrusion_time"):
        "the time is that of an example intrusion, before the lab's backups; test_security_restore_before_intrusion.py "
        "runs it on the lab",
    ("docs/runbooks.md", "ansible-playbook resilience.dr.security_incident -e @dr_plan.yml -e confirm=yes -e incident_phase"):
        "the closing run of a security incident; test_security_isolation.py runs it on the lab after an incident",
    ("docs/restore-tests.md", "ansible-playbook resilience.dr.restore_test"):
        "restores every component twice (about two minutes); test_restore_test.py runs the playbook on the lab",
    ("roles/backup/README.md", "sudo ansible-playbook install_backup_timer.yml"):
        "installs systemd units as root on this machine; the check run before it shows them",
}


@dataclasses.dataclass(frozen=True)
class Block:
    document: str  # relative to the repository root
    line: int
    marker: str  # the comment on the line before the block, "" without one
    commands: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.document}:{self.line}"


def commands(body: str) -> tuple[str, ...]:
    """The commands of a console block: lines after a `$ ` prompt (`# ` as root), continued by a trailing
    backslash."""
    found: list[str] = []
    continued = False
    for line in textwrap.dedent(body).splitlines():
        if continued:
            found[-1] += "\n" + line
        elif line.startswith(("$ ", "# ")):
            found.append(line[2:])
        else:
            continue
        continued = line.endswith("\\")
    return tuple(found)


def marker_before(text: str, start: int) -> str:
    lines = text[:start].rstrip().splitlines()
    last = lines[-1].strip() if lines else ""
    return last if last.startswith("<!-- runs-on-lab") else ""


def blocks(document: Path) -> t.Iterator[tuple[str, int, str, str, str]]:
    """Each fenced block of document: language, line, marker, body."""
    text = document.read_text()
    for match in FENCE.finditer(text):
        yield (match["language"], text.count("\n", 0, match.start()) + 1, marker_before(text, match.start()),
               match["body"], match["indent"])


def console_blocks() -> list[Block]:
    found = []
    for document in DOCUMENTS:
        for language, line, marker, body, _indent in blocks(document):
            if language == "console":
                found.append(Block(str(document.relative_to(REPOSITORY_ROOT)), line, marker, commands(body)))
    return found


def not_run_keys(block: Block) -> list[tuple[str, str]]:
    """The NOT_RUN entries naming block: its document and the start of its first command."""
    return [key for key in NOT_RUN if key[0] == block.document and block.commands and block.commands[0].startswith(key[1])]


CONSOLE_BLOCKS = console_blocks()
# The blocks that run here; every other one is listed in NOT_RUN (test_every_console_block_runs_or_says_why_not).
RUNNING_BLOCKS = [block for block in CONSOLE_BLOCKS if block.marker in (RUNS, RUNS_FROM_ROOT)]


def test_every_console_block_runs_or_says_why_not():
    keys = {}
    for block in CONSOLE_BLOCKS:
        assert block.commands, f"{block}: a console block without a `$ ` (or root's `# `) command"
        assert block.marker in ("", RUNS, RUNS_FROM_ROOT), f"{block}: unknown marker {block.marker}"
        listed = not_run_keys(block)
        keys[block] = listed
        assert bool(block.marker) != bool(listed), (
            f"{block}: mark it {RUNS} (it runs on the lab) or list it in NOT_RUN with the reason it cannot, not both"
            if listed else f"{block}: mark it {RUNS} or list it in NOT_RUN with the reason it does not run")
    stale = set(NOT_RUN) - {key for listed in keys.values() for key in listed}
    assert not stale, f"NOT_RUN lists blocks the docs no longer have: {sorted(stale)}"


# A backup this recent is within every RPO of the lab's plan (the smallest is 15 minutes).
FRESH_BACKUP_SECONDS = 600


def fresh_backups(plan: dict[str, t.Any]) -> bool:
    """Whether every site's repository holds a recent complete backup of each repository component."""
    sites = plan["dr_plan"]["sites"]
    for site in sites:
        repository = Path((sites[site].get("repository") or plan["dr_plan"]["repository"])["location"])
        for component in plan["dr_plan"]["components"]:
            manifests = list((repository / component["name"]).glob("*/manifest.json"))
            if not manifests or time.time() - max(path.stat().st_mtime for path in manifests) > FRESH_BACKUP_SECONDS:
                return False
    return True


def ensure_backups() -> None:
    """Recent backups of every component, as the docs' readers have before they restore or check RPO. The
    README's own backup command takes them when its blocks run first (a full run); else this does."""
    if fresh_backups(yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())):
        return
    run = subprocess.run(
        ["ansible-playbook", "playbooks/backup.yml", "-e", f"@{LAB_DIR / 'dr_plan.yml'}"],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, check=False, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.fixture(scope="module")
def workdirs(lab: dict[str, t.Any]) -> t.Iterator[dict[str, Path]]:
    """A working directory per document, made on first use; the document's blocks run there in order."""
    made: dict[str, Path] = {}
    yield made
    for path in made.values():
        shutil.rmtree(path, ignore_errors=True)


def workdir_for(document: str, made: dict[str, Path], factory: pytest.TempPathFactory) -> Path:
    if document in made:
        return made[document]
    workdir = factory.mktemp(re.sub(r"\W+", "-", document))
    lab_plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    shutil.copy(LAB_DIR / "dr_plan.yml", workdir / "dr_plan.yml")
    vaulted, secrets = vaulted_lab_plan(lab_plan)
    (workdir / "vaulted").mkdir()
    (workdir / "vaulted" / "shopfront.yml").write_text(yaml.safe_dump(vaulted, sort_keys=False))
    (workdir / "vaulted" / "secrets.yml").write_text(yaml.safe_dump(secrets))
    (workdir / "vaulted" / "vault-password").write_text("lab vault password\n")
    for language, _line, marker, body, indent in blocks(REPOSITORY_ROOT / document):
        named = FILE_MARKER.fullmatch(marker)
        if named and language != "console":
            (workdir / named["name"]).write_text(textwrap.dedent(body) if indent else body)
    made[document] = workdir
    return workdir


def untracked_files() -> set[str]:
    """The files in the repository that git does not track and does not ignore."""
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=REPOSITORY_ROOT,
                            capture_output=True, text=True, check=True)
    return set(listed.stdout.splitlines())


def substituted(command: str, workdir: Path) -> str:
    places = {"workdir": str(workdir), "vaulted_plan": str(workdir / "vaulted" / "shopfront.yml"),
              "password_file": str(workdir / "vaulted" / "vault-password"),
              "secrets_file": str(workdir / "vaulted" / "secrets.yml")}
    for text, instead, _reason in SUBSTITUTIONS:
        command = command.replace(text, instead.format(**places))
    return command


@pytest.mark.parametrize("block", RUNNING_BLOCKS, ids=str)
def test_console_block_runs_as_written(block: Block, workdirs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    if block.document != "README.md":
        ensure_backups()
    workdir = workdir_for(block.document, workdirs, tmp_path_factory)
    untracked = untracked_files()
    for command in block.commands:
        run = subprocess.run(
            ["bash", "-o", "pipefail", "-c", substituted(command, workdir)],
            cwd=REPOSITORY_ROOT if block.marker == RUNS_FROM_ROOT else workdir,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1"}, capture_output=True, text=True, check=False, timeout=600,
        )
        assert run.returncode == 0, (
            f"{block}: `{command}` failed with status {run.returncode}:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
        # What a command writes lands where the reader runs it, never inside the installed collection.
        assert untracked_files() == untracked, f"{block}: `{command}` wrote into the collection"
