# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: dr_report
type: aggregate
short_description: Record a recovery run as an incident timeline with the RTO and RPO it achieved
version_added: 0.1.0
description:
  - Records every task (name, host, start, end, status) and every component restore, verification and backup
    (recognised by results that carry C(component) and C(backup_id)) and every DNS failover.
  - At the end of the playbook writes C(report.json), C(report.md) and a self-contained C(report.html) into
    C(<report_dir>/<run id>/) (run id is the UTC start time and the playbook name). Directories are created
    mode 0700 and files 0600, because reports name hosts and backups.
  - Achieved RTO is the time from the incident start (extra variable C(incident_start), an ISO 8601 time,
    default the playbook start) to the end of the last restore, verification or DNS failover. Achieved RPO of
    a component is the time from the incident start to the newest consistency point restored for it, or to
    the newest heartbeat found in the recovered data when a playbook sets the fact C(dr_heartbeat)
    (a dictionary with C(component) and C(time), ISO 8601, or a list of them); the run's RPO is the worst
    component's.
  - A run restoring to a point in time (extra variable C(target_time); S3 components of levels 2 and 3 roll back
    to the incident start without one) shows, per component, the time requested, the point reached and the gap
    between them, and says the widest gap in the report and in its final line, since the application's state is
    only as consistent as that gap. Such a component's RPO counts from the requested time, not from the incident
    start.
  - The write freeze of a failback (the fact C(dr_write_freeze) - C(site), C(components), C(start), C(end),
    C(duration_s), C(thawed)) is reported as C(write_freeze), the failback's downtime, and named in the last line.
  - Each component's achieved RTO and RPO is compared with its C(rto) and C(rpo) in the C(dr_plan) extra
    variable, or, without one, the C(dr_plan) variable of the inventory's C(all) group (where AWX keeps it).
  - The callback must be enabled, with C(callbacks_enabled = resilience.dr.dr_report) in ansible.cfg or
    C(ANSIBLE_CALLBACKS_ENABLED=resilience.dr.dr_report) (the collection's execution environment sets the latter).
  - With O(report_s3_url) set, the three files are also uploaded to C(<report_s3_url>/<run id>/) with server-side
    encryption, so the report outlives the machine or container that ran the playbook (an AWX job). A failed upload
    is an error message naming the object and the local copy; it never changes the run's result.
  - Each option can be set for one run by an extra variable (C(dr_report_dir), C(dr_report_s3_url),
    C(dr_report_s3_endpoint_url), C(dr_report_s3_sse), C(dr_report_s3_sse_kms_key_id)), which wins over the
    environment and ansible.cfg; an AWX job template sets them in its extra variables.
author:
  - resilience.dr maintainers (@resilience-dr)
requirements:
  - enable in configuration (callbacks_enabled)
options:
  report_dir:
    description:
      - Directory the reports are written to, one sub-directory per run. A relative path is taken from the
        directory ansible-playbook runs in.
      - Extra variable C(dr_report_dir) overrides it.
    type: path
    default: reports
    env:
      - name: DR_REPORT_DIR
    ini:
      - section: callback_dr_report
        key: report_dir
  report_s3_url:
    description:
      - An C(s3://bucket/prefix) the report files are uploaded to, under C(<run id>/), after they are written
        locally. Credentials and region come from the environment as for boto3 (C(AWS_ACCESS_KEY_ID),
        C(AWS_SECRET_ACCESS_KEY), C(AWS_SESSION_TOKEN) or C(AWS_SECURITY_TOKEN), C(AWS_REGION), an instance role).
      - Extra variable C(dr_report_s3_url) overrides it.
    type: str
    env:
      - name: DR_REPORT_S3_URL
    ini:
      - section: callback_dr_report
        key: report_s3_url
  report_s3_endpoint_url:
    description:
      - The S3 endpoint for an S3-compatible store (MinIO, Ceph); unset for AWS itself.
      - Extra variable C(dr_report_s3_endpoint_url) overrides it.
    type: str
    env:
      - name: DR_REPORT_S3_ENDPOINT_URL
    ini:
      - section: callback_dr_report
        key: report_s3_endpoint_url
  report_s3_sse:
    description:
      - Server-side encryption of the uploaded files.
      - Extra variable C(dr_report_s3_sse) overrides it.
    type: str
    choices: [AES256, aws:kms]
    default: AES256
    env:
      - name: DR_REPORT_S3_SSE
    ini:
      - section: callback_dr_report
        key: report_s3_sse
  report_s3_sse_kms_key_id:
    description:
      - The KMS key of O(report_s3_sse=aws:kms); unset uses the account's default key for S3.
      - Extra variable C(dr_report_s3_sse_kms_key_id) overrides it.
    type: str
    env:
      - name: DR_REPORT_S3_SSE_KMS_KEY_ID
    ini:
      - section: callback_dr_report
        key: report_s3_sse_kms_key_id
  fail_on_target_miss:
    description:
      - Whether a missed RTO or RPO target fails the run. The recovery playbooks end with the task
        M(resilience.dr.recovery_targets), which fails when a component missed its target and this is set
        (or the task's own O(resilience.dr.recovery_targets#module:fail_on_miss), or the extra variable
        C(fail_on_target_miss) the recovery playbooks pass to it); ansible-playbook then ends with exit status 2
        like any failed task. Your own playbooks add that task last to do the same.
      - Never applies in check mode, or when the run failed anyway.
    type: bool
    default: false
    env:
      - name: DR_REPORT_FAIL_ON_TARGET_MISS
    ini:
      - section: callback_dr_report
        key: fail_on_target_miss
"""

from ansible import context
from ansible.plugins.callback import CallbackBase
from ansible.utils.display import Display

from ansible_collections.resilience.dr.plugins.module_utils._errors import DrError
from ansible_collections.resilience.dr.plugins.plugin_utils._report.targets import TARGETS_ACTIONS, publish_targets, withdraw_targets
from ansible_collections.resilience.dr.plugins.plugin_utils._report.timeline import Timeline
from ansible_collections.resilience.dr.plugins.plugin_utils._report.upload import OVERRIDES, report_settings, upload_report
from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import format_seconds
from ansible_collections.resilience.dr.plugins.plugin_utils._report.words import point_in_time_text
from ansible_collections.resilience.dr.plugins.plugin_utils._report.write import write_report
from ansible_collections.resilience.dr.plugins.module_utils._timing import utc_now


def _parts(result):
    """(host name, task, result dict) for ansible-core 2.17 to 2.19+."""
    host = getattr(result, "host", None) or result._host
    task = getattr(result, "task", None) or result._task
    data = getattr(result, "result", None)
    if data is None:
        data = result._result
    return host.get_name(), task, data


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "resilience.dr.dr_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display: Display | None = None) -> None:
        super().__init__(display=display)
        self.timeline = Timeline()
        self._targets_file: str | None = None
        # The report settings the run's extra variables give (an AWX job template has no environment of its own).
        self.report_overrides: dict = {}

    def v2_playbook_on_start(self, playbook):
        self.timeline.playbook_start(playbook._file_name, utc_now())

    def v2_playbook_on_play_start(self, play):
        variable_manager = play.get_variable_manager()
        extra_vars = dict(variable_manager.extra_vars or {})
        self.report_overrides = {name: extra_vars[name] for name in OVERRIDES.values() if name in extra_vars}
        if "dr_plan" not in extra_vars:
            # AWX keeps the plan in the inventory's variables: its name and targets (literal keys, read
            # untemplated) come from there.
            inventory = getattr(variable_manager, "_inventory", None)
            group = inventory.groups.get("all") if inventory is not None else None
            plan = group.get_vars().get("dr_plan") if group is not None else None
            if plan is not None:
                extra_vars["dr_plan"] = plan
        self.timeline.play_start(play.get_name(), extra_vars, utc_now())

    def v2_playbook_on_task_start(self, task, is_conditional):
        moment = utc_now()
        self.timeline.task_start(task._uuid, task.get_name(), task.action, moment)
        # Called before the task's workers start, so the task finds what was measured up to its start.
        if task.action in TARGETS_ACTIONS:
            measured = self.timeline.targets_so_far(moment, bool(self.get_option("fail_on_target_miss")),
                                                    bool(context.CLIARGS.get("check", False)))
            self._targets_file = publish_targets(measured, previous=self._targets_file)
        elif self._targets_file:
            withdraw_targets(self._targets_file)
            self._targets_file = None

    def v2_playbook_on_handler_task_start(self, task):
        self.timeline.task_start(task._uuid, task.get_name(), task.action, utc_now())

    def _record(self, result, status):
        host, task, data = _parts(result)
        if status == "ok" and data.get("changed"):
            status = "changed"
        # A task run in check mode inside a real run compares before acting (the level playbooks' look at
        # each component before stopping services): it restores nothing, so it is no event of the recovery.
        preview = bool(getattr(task, "check_mode", False)) and not context.CLIARGS.get("check", False)
        self.timeline.task_result(task._uuid, host, status, data, utc_now(), name=task.get_name(), action=task.action,
                                  preview=preview)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        summary = {
            key: dict(getattr(stats, attribute, {}) or {})
            for key, attribute in (("ok", "ok"), ("changed", "changed"), ("failures", "failures"),
                                   ("dark", "dark"), ("rescued", "rescued"), ("ignored", "ignored"))
        }
        check_mode = bool(context.CLIARGS.get("check", False))
        self.timeline.finish(utc_now(), summary, check_mode=check_mode)
        withdraw_targets(self._targets_file)
        self._targets_file = None
        fail_on_miss = self.get_option("fail_on_target_miss")
        try:
            settings = report_settings({option: self.get_option(option) for option in OVERRIDES}, self.report_overrides)
            report = self.timeline.report(fail_on_target_miss=fail_on_miss)
            directory = write_report(report, settings.report_dir)
        except (DrError, OSError) as error:
            self._display.error(f"dr_report: no report was written: {error}")
            return
        uploaded = ""
        if settings.s3_url:
            try:
                uploaded = f" and {upload_report(directory, settings)}/"
            except (DrError, OSError) as error:
                # The run's result stands; only where its report is kept changes.
                self._display.error(f"dr_report: the report was not uploaded to {settings.s3_url}: {error}; "
                                    f"the local copy is {directory}")
        point = point_in_time_text(report["point_in_time"])
        freeze = report.get("write_freeze")
        frozen = f", write freeze {format_seconds(freeze.get('duration_s'))}" if freeze else ""
        self._display.display(
            f"DR report {report['run_id']}: RTO {format_seconds(report['rto_seconds'])}, "
            f"RPO {format_seconds(report['rpo_seconds'])}{frozen}, targets {report['targets']['verdict']}"
            f"{'; ' + point if point else ''} -> {directory}{uploaded}"
        )
        for miss in report["targets"]["misses"]:
            self._display.warning(f"DR target missed: {miss}")
