# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    # Options of the report stage every twzrd.ops module ends with
    # (plugins/module_utils/report/stage.py): notifications, dead-man's switch,
    # Prometheus textfile export, accepted conditions.
    DOCUMENTATION = r'''
options:
  notify:
    description:
      - Tell people about alerts through Apprise (email, Slack, Telegram, Discord, Teams, ntfy, Matrix,
        JSON webhooks and the other services Apprise knows). See C(docs/notifications.md).
      - Alert jobs send one message per run only when something changed (new, escalated, de-escalated,
        resolved) or a reminder is due; nothing when nothing changed. Report jobs (the weekly health report,
        the vacuum) send their report every run.
      - A message that cannot be delivered is kept in the state file and sent with the next run; the run
        itself never fails because of it.
      - Absent or empty O(notify.urls) sends nothing.
      - Each message carries Apprise's notify type by its worst content (V(failure) for critical alerts and
        failed runs, V(warning), V(success) when it only tells what resolved, V(info) for reports), which chat
        services and webhooks colour and route by.
    type: dict
    suboptions:
      urls:
        description:
          - Apprise URLs, one per channel, for example V(mailto://user:app-password@smtp.example.com?to=ops@example.com),
            V(tgram://BOT_TOKEN/CHAT_ID), V(slack://TokenA/TokenB/TokenC/#ops), V(ntfy://ntfy.sh/topic), V(json://host/path).
          - They hold secrets; they never appear in a result, a log line or a message. Channels are named by
            position and scheme (V(#1 mailto)).
        type: list
        elements: str
        default: []
      min_level:
        description: The lowest level that is sent.
        type: str
        choices: [warning, critical]
        default: warning
      repeat_hours:
        description:
          - Remind of an alert still firing this many hours after it was last sent. V(0) never reminds.
          - Between 0 and 8760.
        type: float
        default: 24
      recovery:
        description: Send a "resolved" message when an alert that was sent is gone.
        type: bool
        default: true
      hysteresis_pct:
        description:
          - No flapping. An alert on a measured value (swap, load, disk, connections, latency, dead rows,
            transaction ID age, growth) is resolved, or de-escalated, only once the value is back past its
            threshold by this share of the threshold. With the default, a swap warning at 20 % resolves below 18 %.
          - Alerts without a numeric value and threshold (daemon down, missing table, job failed) resolve at once.
          - Between 0 and 100.
        type: float
        default: 10
      timeout:
        description:
          - Seconds all deliveries of one run may take together (a hung channel never holds the job). Between 1 and 300.
          - A channel that timed out is not tried again in that run; messages the budget leaves are kept, untried,
            for the next run.
        type: float
        default: 20
  ping_url:
    description:
      - Dead-man's switch (healthchecks.io, Uptime Kuma push, Cronitor convention). After a successful run the
        module GETs this URL; after a failed run it GETs V(<ping_url>/fail). When cron stops or the host dies,
        the outside service notices the missing pings.
      - A ping that fails is a warning, never a failure of the job. Treated as a secret.
    type: str
  textfile_dir:
    description:
      - Export this run's metrics for the Prometheus node_exporter textfile collector. The module replaces
        C(twzrd_<job>.prom) in this directory (C(twzrd_<job>_<database>.prom) for the database jobs) atomically,
        mode C(0644), using prometheus_client. Debian's C(prometheus-node-exporter) reads
        C(/var/lib/prometheus/node-exporter). See C(docs/prometheus.md) for the metric names and alert rules.
      - A failed run still writes its status (V(3)), last run and duration, and keeps the last success time from the
        state file. A directory that is missing or not writable is a warning, never a failure of the job; the
        previous file then stays as it was.
      - Unset (the default) exports nothing and does not load prometheus_client. Nothing is written in check mode.
    type: path
  accept:
    description:
      - Known conditions a person decided to live with, for example a table without a primary key that is
        append-only. A matching alert is still in the result (under RV(accepted), marked with the reason) but
        raises nothing (no status, no message).
      - Past O(accept[].until) the acceptance no longer applies, and the run warns that it expired.
    type: list
    elements: dict
    default: []
    suboptions:
      check:
        description: The alert's C(check), for example V(primary_keys) or V(disk).
        type: str
        required: true
      subject:
        description: The alert's C(subject) (table, mount point, app). Omit, or V(*), for every subject of the check.
        type: str
      until:
        description: Last day (V(YYYY-MM-DD), through the end of that day UTC) or UTC time (V(YYYY-MM-DDTHH:MM)) it applies.
        type: str
      reason:
        description: Why it is accepted; shown with the alert in every report.
        type: str
        required: true
  report_dir:
    description:
      - Keep each run's report as a dated text file in this directory, the audit trail of a job
        (C(JOB-YYYY-MM-DDTHHMMZ.txt), C(JOB-DATABASE-...) for the database jobs) with the summary (the weekly
        health report; the vacuum's tables vacuumed and skipped with sizes and dead rows before and after;
        the restarted apps), every alert with what to do, and the accepted conditions.
      - Written atomically, mode 0640; the directory is created (mode 0750) when missing. The run's log line
        names the file (C(report=)), the result returns it (RV(report_text_file)).
      - A file that cannot be written is a warning; the run's result stays. Nothing is written in check mode.
      - twzrd_health in report mode also writes the weekly HTML page there (C(twzrd-report-YYYY-MM-DD.html),
        C(docs/report.md)).
      - The install role sets it for the weekly jobs (health, vacuum, restart).
    type: path
  report_keep:
    description: How many report files of this job (and database) to keep in O(report_dir); older ones are deleted. Between 1 and 1000.
      Only files named exactly as the job writes them count and are deleted; other files in O(report_dir) are never touched.
    type: int
    default: 12
  on_demand:
    description:
      - This run was asked for by a person, not started by cron. The on-demand playbooks set it; the cron jobs do not.
      - Unless O(notify_on_demand) is set, an on-demand run sends nothing (the result says what it would send under
        RV(notification)), keeps no alert history (pending messages stay pending) and consumes nothing the cron job
        compares with (twzrd_health and twzrd_db_health write no state), so every change it saw is still told by
        the next cron run. What twzrd_vacuum and pm2_restart did is still recorded. It never pings O(ping_url).
    type: bool
    default: false
  notify_on_demand:
    description:
      - Let an on-demand run (O(on_demand)) deliver its messages and keep its alert history like a cron run does
        (what it told is then not told again by cron). Set by C(twzrd_notify_on_demand).
    type: bool
    default: false
'''
