# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of twzrd_health (hourly alerts, weekly report), as registry entries.

A new threshold check is one entry here (and its collector, when it reads something new):
``make generate`` then derives the module's options and documentation, the module_args lookup,
the health_check role, the Prometheus rules and their tests and the docs' tables.
Texts: ``doc`` and ``todo`` are the docs/alerts.md columns (Markdown), ``remediation`` goes into
the alert (``{subject}`` and the message's fields are filled in) followed by its runbook section.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.checks.registry import Check, LOWER, Option, Rule, Series
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL
from ansible_collections.twzrd.ops.plugins.module_utils.probes import budget, http_check, postgres_ping
from ansible_collections.twzrd.ops.plugins.module_utils.host import kernel_log
from ansible_collections.twzrd.ops.plugins.module_utils.host import collect as system
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import ERRORED_STATES


def gib(num_bytes):
    return '%.1f GiB' % (num_bytes / 1073741824.0)


def _plural(count, word):
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


# --- threshold checks ------------------------------------------------------------------------

SWAP = Check(
    'swap', option='swap', warning=20, critical=80, unit='%', reads='swap', field='used_percent',
    when=lambda swap: swap.get('present'),
    option_doc=('Swap used, in percent of the swap size, above which a warning is raised.',
                'Swap used, in percent, above which the alert is critical.'),
    message='swap {value:.1f}% used ({used} of {total}), above the {level} threshold of {threshold}%',
    facts=lambda swap, params, value: {'used': gib(swap['used_bytes']), 'total': gib(swap['total_bytes'])},
    remediation='Find what holds memory: `ps aux --sort=-rss | head`, `pm2 monit`. Restart a leaking app '
                'gracefully (twzrd.ops.pm2_restart), lower its max_memory_restart, or add RAM. '
                'Above the critical level the host slows to a crawl.',
    anchor='swap-or-memory-exhausted',
    doc='Share of swap in use. A host without swap is ok. Sustained swap use means memory is short; above 80 % '
        'the host crawls.',
    todo='`ps aux --sort=-rss \\| head`, `pm2 monit` to find the memory holder. Restart a leaking app gracefully '
         '(`twzrd.ops.pm2_restart`), lower its `max_memory_restart`, or add RAM.',
    series=Series('twzrd_swap_used_ratio', 'Swap in use as a share of the swap size, 0-1 (0 without swap). '
                  'Checked by the swap alert.', scale=0.01, skipped=0.0),
    rule=Rule('TwzrdSwapUsedHigh', 'swap {value} used ({level} above {threshold})', percent=True))

MEMORY = Check(
    'memory', modes=('alerts',), option='memory', warning=90, critical=95, unit='%', reads='memory',
    field='used_percent',
    option_doc=('Memory in use, in percent of the total (total minus C(MemAvailable)), above which a warning is '
                'raised. Hosts without swap are checked too.',
                'Memory in use, in percent, above which the alert is critical.'),
    message='memory {value:.1f}% used ({available} available of {total}), above the {level} threshold of '
            '{threshold}%',
    facts=lambda memory, params, value: {'available': gib(memory['available_bytes']),
                                         'total': gib(memory['total_bytes'])},
    remediation='Find what holds memory: `ps aux --sort=-rss | head`, `pm2 monit`. Restart a leaking app '
                'gracefully (twzrd.ops.pm2_restart), lower its max_memory_restart, or add RAM; without swap the '
                'kernel kills the biggest process when none is left.',
    anchor='swap-or-memory-exhausted',
    doc='Share of memory in use: total minus `MemAvailable` (what the kernel can hand out without swapping, page '
        'cache included), like `free`\'s "available". Checked with or without swap; on a host without swap '
        'the OOM killer comes next (`oom_kills`).',
    todo='`ps aux --sort=-rss \\| head`, `pm2 monit` to find the memory holder. Restart a leaking app gracefully, '
         'lower its `max_memory_restart`, or add RAM (or swap).',
    series=Series('twzrd_memory_used_ratio', 'Memory in use (total minus available) as a share of the total, 0-1.',
                  scale=0.01),
    rule=Rule('TwzrdMemoryUsedHigh', 'memory {value} used ({level} above {threshold})', percent=True))


def _load_value(load, params):
    if load.get('load1') is None:
        return None
    if params.get('load_per_cpu'):
        return round(load['load1'] / max(1, load.get('cpu_count') or 1), 2)
    return load['load1']


def _load_threshold(threshold, load, params):
    """With load_per_cpu the host compares load1 per CPU: the series is load1, so its threshold is per CPU times
    the CPUs."""
    if params.get('load_per_cpu'):
        return threshold * max(1, load.get('cpu_count') or 1)
    return threshold


def _load_facts(load, params, value):
    if params.get('load_per_cpu'):
        return {'what': 'load average %.2f per CPU (%.2f over %d CPUs, 1 min)'
                        % (value, load['load1'], load['cpu_count'])}
    return {'what': 'load average %.2f (1 min)' % value}


LOAD = Check(
    'load', option='load', warning=8, critical=12, bounds=(0, 10000), reads='load', field='load1',
    value=_load_value, facts=_load_facts,
    option_doc=('1-minute load average above which a warning is raised.',
                '1-minute load average above which the alert is critical.'),
    options=[Option('load_per_cpu', 'bool', 'Divide the load average by the number of CPUs before comparing it '
                    'with the thresholds.', default=False, shared_doc='Divide the load by the CPU count first.')],
    thresholds_doc='warning > 8, critical > 12 (`load_warning`, `load_critical`, 0-10000); `load_per_cpu: true` '
                   'divides by the CPU count first',
    message='{what}, above the {level} threshold of {threshold}',
    remediation='See what is busy: `top -o %CPU`, `pm2 monit`, `ps -eo pid,stat,cmd | grep " D"` for '
                'processes stuck on I/O. Stop runaway jobs, spread cron jobs out, or add CPUs.',
    anchor='load-spikes',
    doc='1-minute load average: runnable plus I/O-blocked processes.',
    todo='`top -o %CPU`, `pm2 monit`; `ps -eo pid,stat,cmd \\| grep " D"` for processes stuck on I/O. Stop '
         'runaway jobs, spread cron jobs, add CPUs.',
    series=Series('twzrd_load1', 'Load average over 1 minute(s), as the load alert reads it.',
                  threshold=_load_threshold),
    rule=Rule('TwzrdLoadHigh', 'load average {value} (1 min, {level} above {threshold})'))

DISK = Check(
    'disk', option='disk', warning=85, critical=95, unit='%', reads='disks', per='path', field='used_percent',
    option_doc=('Disk used, in percent, above which a warning is raised.',
                'Disk used, in percent, above which the alert is critical.'),
    options=[Option('disk_paths', 'list', 'Mount points (or any path on them) whose use is checked.',
                    default=['/'], elements='path',
                    shared_doc='Mount points to check (module default C(/)).')],
    thresholds_doc='warning > 85 %, critical > 95 % (`disk_warning`, `disk_critical`, 0-100) on `disk_paths` '
                   '(default `/`)',
    message='disk {subject} {value:.1f}% used ({free} free), above the {level} threshold of {threshold}%',
    facts=lambda disk, params, value: {'free': gib(disk['free_bytes'])},
    remediation='Find what grew: `du -xh --max-depth=2 {subject} | sort -h | tail`. Rotate or delete old logs '
                '(`pm2 flush`, `journalctl --vacuum-size=200M`), remove old releases, or grow the volume.',
    anchor='disk-full',
    error_message='disk path {subject} cannot be checked: {error}',
    error_remediation='The path in disk_paths does not exist: mount the volume again or remove the path '
                      'from disk_paths.',
    error_anchor='a-disk-path-is-missing',
    doc='Space used like `df` shows it (reserved blocks excluded).',
    todo='`du -xh --max-depth=2 PATH \\| sort -h \\| tail`; `pm2 flush`, `journalctl --vacuum-size=200M`, remove '
         'old releases, grow the volume. A path that does not exist is a warning: mount it again or remove it '
         'from `disk_paths`.',
    series=Series('twzrd_disk_used_ratio', 'Disk space used like df shows it (reserved blocks excluded), 0-1, '
                  'per checked path.', scale=0.01),
    rule=Rule('TwzrdDiskUsedHigh', 'disk {subject} {value} used ({level} above {threshold})', percent=True))

INODES = Check(
    'inodes', modes=('alerts',), option='inode', warning=85, critical=95, unit='%', reads='inodes', per='path',
    field='used_percent',
    collect=lambda params, state, now: (system.collect_inodes(params['disk_paths']), None),
    option_doc=('Inodes used on each path of O(disk_paths), in percent, above which a warning is raised.',
                'Inodes used, in percent, above which the alert is critical.'),
    message='inodes on {subject} {value:.1f}% used ({free} of {total} free), above the {level} threshold of '
            '{threshold}%',
    remediation='Find the directories with the most files: `du --inodes -x {subject} | sort -n | tail`. Delete what '
                'piles up (sessions, cache entries, mail queues, old releases), or move it to a file system with '
                'more inodes (ext4 fixes their number when it is created).',
    anchor='inodes-exhausted',
    doc='Share of the inodes (file and directory entries) in use on each path of `disk_paths`, like `df -i`. A full '
        'inode table refuses new files while `df` still shows free space. File systems without an inode count '
        '(btrfs) give no reading; a missing path is told by `disk`.',
    todo='`du --inodes -x PATH \\| sort -n \\| tail` to find the directory with millions of small files; delete '
         'them or add a cleanup job, or move them to a file system with more inodes.',
    series=Series('twzrd_inode_used_ratio', 'Inodes in use as a share of the inodes of the file system, 0-1, per '
                  'checked path.', scale=0.01),
    rule=Rule('TwzrdInodesUsedHigh', 'inodes on {subject} {value} used ({level} above {threshold})', percent=True))


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def oom_kills_since(count, boot_time, state):
    """``(metric, new_state)``: the OOM kills since the previous run from the kernel's ``oom_kill`` counter.

    ``state`` (the previous run's ``{'count', 'boot_time'}``, untrusted) is the baseline; without one this
    run only sets it (``kills`` None). A reboot, or a counter that went down, starts at 0: all of it is new.
    """
    if count is None:
        return {'error': 'the kernel has no oom_kill counter in /proc/vmstat (Linux 4.13 or later has)'}, None
    new_state = {'count': count, 'boot_time': int(boot_time)}
    state = state if isinstance(state, dict) else {}
    before, booted = _int(state.get('count')), _int(state.get('boot_time'))
    if before is None or booted is None:
        return {'count': count, 'kills': None}, new_state
    if abs(booted - int(boot_time)) > 2 or count < before:  # boot_time wobbles by a second between reads
        return {'count': count, 'kills': count}, new_state
    return {'count': count, 'kills': count - before}, new_state


def collect_oom_kills(params, state, now):
    metric, new_state = oom_kills_since(kernel_log.vmstat_counter('oom_kill'), system.collect_uptime(now)['boot_time'],
                                        state)
    if metric.get('kills'):
        metric['victims'] = kernel_log.recent_oom_victims(metric['kills'])
    return metric, new_state


def _oom_facts(oom, params, value):
    victims = oom.get('victims')
    if victims is None:
        named = ' (the kernel log, which names the victims, cannot be read by the job user)'
    elif not victims:
        named = ''
    else:
        named = ': %s' % ', '.join('%s (pid %d)' % (v['name'], v['pid']) for v in victims)
    return {'killed': 'kernel OOM killer ended %d process%s since the previous check%s' % (value, '' if value == 1 else 'es', named)}


OOM_KILLS = Check(
    'oom_kills', modes=('alerts',), option='oom_kills', option_type='int', warning=0, critical=None,
    bounds=(0, 1000000), unit='kills', reads='oom_kills', field='kills', collect=collect_oom_kills,
    option_doc=(['Kernel OOM kills since the previous alerts run (the C(oom_kill) counter of C(/proc/vmstat)) above '
                 'which a warning is raised; the first run only sets the baseline, kept in the state file.'],
                'OOM kills since the previous run above which the alert is critical. Unset means never critical.'),
    thresholds_doc='warning > 0 (`oom_kills_warning`), critical only if `oom_kills_critical` is set (0-1000000)',
    message='{killed} (threshold: more than {threshold})',
    facts=_oom_facts,
    remediation='Memory ran out and the kernel ended a process. See what it killed and why: `journalctl -k | grep -i '
                '-A5 "out of memory"`, then `ps aux --sort=-rss | head`. Restart what was killed if PM2 did not '
                '(`pm2 ls`), cap the app that grows (max_memory_restart), add swap or RAM.',
    anchor='processes-killed-for-memory',
    doc='Processes the kernel\'s OOM killer ended since the previous alerts run, from the `oom_kill` counter of '
        '`/proc/vmstat`, with the victims from the kernel log when the job can read it (root, or '
        '`kernel.dmesg_restrict=0`). The first run sets the baseline (state file); after a reboot every kill since '
        'boot counts.',
    todo='`journalctl -k \\| grep -i -A5 "out of memory"` for what was killed; `pm2 ls` to see it came back; cap '
         'the app that grows (`max_memory_restart`), add swap or RAM.',
    series=Series('twzrd_oom_kills', 'Processes the kernel OOM killer ended since the previous check.'),
    rule=Rule('TwzrdOomKills', 'the kernel OOM killer ended {value} process(es) since the previous check'))


# --- network probes: one concurrent round under one budget (module_utils/probes/) ---------------

def collect_probes(params, state, now):
    """The ``http`` and ``postgres`` probes of this run at once: ``({'http': ..., 'postgres': ...}, None)``.

    Only what is configured is probed and shown; with neither, nothing is imported (urllib and ssl cost
    a quiet run ~20 ms). Each subject carries ``up`` (1: answered as expected) for its Prometheus series
    and ``error`` when it did not; a wrong HTTP status is such an error too.
    """
    http_checks, ping = params.get('http_checks'), params.get('postgres_ping')
    if not http_checks and ping is None:
        return {}, None
    # pylint: disable=import-outside-toplevel
    from ansible_collections.twzrd.ops.plugins.module_utils.probes import Budget, collect_all
    checks = http_check.normalize(http_checks)[0]  # already validated (registry.parameter_errors)
    found = collect_all(checks, ping, Budget(params.get('probe_budget') or budget.DEFAULT_PROBE_BUDGET))
    metrics = {}
    if checks:
        metrics['http'] = dict((name, _http_subject(result)) for name, result in found['http'].items())
    if ping is not None:
        metrics['postgres'] = dict((subject, dict(result, up=int(result['answer'] == postgres_ping.ACCEPTING)))
                                   for subject, result in found['postgres'].items())
    return metrics, None


def _http_subject(result):
    kind = http_check.problem(result)
    subject = dict(result, up=int(kind in (None, 'slow')), warning=result['latency_warning_ms'])
    if kind == 'status':
        subject['error'] = 'answered HTTP %s, expected HTTP %s' % (result['status'], result['expected_status'])
    elif kind == 'down':
        subject['error'] = result['error'] or 'no answer'
    return subject


def _http_message(fields):
    return http_check.message(http_check.problem(fields) or 'slow', fields['subject'], fields)


def _http_remediation(fields):
    return http_check.remediation_text(http_check.problem(fields) or 'slow', fields['subject'], fields)


PROBE_BUDGET = Option(
    'probe_budget', 'float', [
        'Seconds that the network probes of one alerts run (O(http_checks) and O(postgres_ping)) may take together.',
        'Each probe waits at most its own C(timeout) and never longer than what is left of this budget; all probes '
        'run at the same time, so several hanging endpoints cost one timeout, not one each.'],
    default=budget.DEFAULT_PROBE_BUDGET, bounds=(('>', 0), budget.MAX_PROBE_BUDGET),
    shared_doc='Seconds the network probes of one alerts run may take together.')

HTTP = Check(
    'http', modes=('alerts',), reads='http', per='name', field='latency_ms', unit='ms', subject_thresholds=True,
    collect=collect_probes, collect_shared=True,
    options=[Option('http_checks', 'dict', [
        'Health endpoints probed every hour, by name (the name is the alert\'s subject).',
        'Each value is a dict with C(url) (required, http or https; redirects are not followed, no proxy is used), '
        'C(status) (expected HTTP status, default 200), C(timeout) (seconds for the whole request, default 5, at '
        'most 300, and never more than what is left of O(probe_budget)) and C(latency_warning_ms) (an answer '
        'slower than this is a warning, default 1000, lower than C(timeout)). A plain URL string is accepted as a '
        'shorthand.',
        'No answer or another status is critical.',
        'Credentials in the URL (C(http://user:password@host/)) are sent as HTTP basic auth, never in the URL, and '
        'masked in results, logs, the state file and the metrics.',
        'Names are 1-64 letters, digits, C(_), C(.), C(:) or C(-).'],
        default={}, errors=http_check.errors, secrets=http_check.secrets,
        shared_doc='Health endpoints probed every hour, by name.'), PROBE_BUDGET],
    thresholds_doc='critical without an answer or with another status than `status` (200); warning slower than '
                   '`latency_warning_ms` (1000) of each check in `http_checks`; all probes within `probe_budget` (10 s)',
    message=_http_message, remediation=_http_remediation, anchor=http_check.ANCHOR,
    error_message=_http_message, error_remediation=_http_remediation, error_anchor=http_check.ANCHOR,
    error_level=CRITICAL,
    doc='Each endpoint of `http_checks` is fetched once (GET, no redirects, no proxy) by name; only when '
        '`http_checks` is set. Credentials in a URL are sent as basic auth and masked everywhere. Subject: the name.',
    todo='`pm2 ls`, `pm2 logs APP --err --lines 100`; `curl -sS -i URL` on the host. A wrong status: read the '
         'app\'s error log (a backend it needs is the usual cause). Slow: `pm2 monit`, load, swap, slow queries.',
    series=Series('twzrd_http_up', 'Whether the http check answered with its expected status, 1 or 0, per name.',
                  field='up'),
    rule=Rule('TwzrdHttpCheckFailing', 'http check {subject} gives no answer or another status than expected',
              remediation='See whether the app runs and what it logs: `pm2 ls`, `pm2 logs APP --err --lines 100`.',
              fixed=('critical', '<', 1)))

POSTGRES = Check(
    'postgres', modes=('alerts',), reads='postgres', per='target', field='latency_ms', unit='ms',
    collect=collect_probes, collect_shared=True,
    options=[Option('postgres_ping', 'dict', [
        'When set (V({}) is enough for the local server), checks every hour that a PostgreSQL server answers, like '
        'C(pg_isready); no role or password is needed. No answer, or an answer that it cannot take connections '
        'now (starting up, shutting down, a standby not open for reads), is critical.',
        'The server logs the probe as one failed login (role C(twzrd_ping)) per run, as it does for C(pg_isready).'],
        suboptions=postgres_ping.SUBOPTIONS, errors=postgres_ping.errors,
        shared_doc='The PostgreSQL server pinged every hour (V({}): the local one).')],
    thresholds_doc='critical when the server in `postgres_ping` does not answer or takes no connections; only when '
                   '`postgres_ping` is set; within `probe_budget` together with `http`',
    error_message=lambda fields: postgres_ping.message(fields['subject'], fields),
    error_remediation=lambda fields: postgres_ping.remediation_text(fields['subject']),
    error_anchor=postgres_ping.ANCHOR, error_level=CRITICAL,
    remediation='(plugins/module_utils/probes/postgres_ping.py)', anchor=postgres_ping.ANCHOR,
    doc='The server of `postgres_ping` answers the first step of the wire protocol like `pg_isready` (no role or '
        'password; one failed login in its log per run). Subject: the socket file or `host:port`.',
    todo='`pg_lsclusters`, `systemctl status postgresql`, the server log; start it again once the cause (full '
         'disk, memory) is fixed. `pg_isready -h HOST -p PORT` by hand.',
    series=Series('twzrd_postgres_up', 'Whether the PostgreSQL server answered and takes connections, 1 or 0, per '
                  'target.', field='up'),
    rule=Rule('TwzrdPostgresPingFailing', 'PostgreSQL at {subject} does not accept connections',
              remediation='See whether PostgreSQL runs and why not: `pg_lsclusters`, `systemctl status postgresql`, '
                          'the server log.', fixed=('critical', '<', 1)))


def _crash_message(app):
    parts = []
    if app['crash_restarts']:
        parts.append('%s since the last check' % _plural(app['crash_restarts'], 'crash restart'))
    if app['down']:
        states = sorted(set(s for s in app['statuses'] if s in ERRORED_STATES))
        parts.append('%d of %s %s' % (app['down'], _plural(app['instances'], 'instance'), '/'.join(states)))
    return 'PM2 app %s: %s (threshold: more than %s)' % (app['subject'], ', '.join(parts), app['threshold'])


PM2_CRASHES = Check(
    'pm2_crashes', option='crash', option_type='int', warning=0, critical=None, bounds=(0, 1000000),
    unit='crashes', reads='pm2.apps', per='app', field='crashes',
    option_doc=(['PM2 crashes per app above which a warning is raised. Crashes are instances in C(errored) or '
                 'C(stopped) state plus the growth of C(restart_time) since the previous alerts run, minus the '
                 'restarts this collection made itself (M(twzrd.ops.pm2_restart)).'],
                'PM2 crashes per app above which the alert is critical. Unset means never critical.'),
    thresholds_doc='warning > 0 (`crash_warning`), critical only if `crash_critical` is set (0-1000000)',
    message=_crash_message,
    facts=lambda app, params, value: {'app': app.get('app', app['subject'])},
    remediation='Read the crash cause: `pm2 logs {app} --err --lines 200` and `pm2 describe {app}` as '
                'the PM2 user. Fix it, then `pm2 restart {app}`; if it was stopped on purpose, remove '
                'it (`pm2 delete {app}`, `pm2 save`).',
    anchor='an-app-crash-loops',
    doc='Instances in `errored` or `stopped` state plus crash restarts: growth of `restart_time` since the '
        'previous alerts run, minus restarts twzrd.ops made itself (`pm2_restart`). A counter that went down '
        '(daemon restarted, app re-created) counts in full. Subject: the app; `user/app` when several daemons '
        'are checked.',
    todo='`pm2 logs APP --err --lines 200`, `pm2 describe APP` as the PM2 user. Fix the cause, then '
         '`pm2 restart APP`. If it was stopped on purpose, `pm2 delete APP && pm2 save`.',
    series=Series('twzrd_pm2_app_crashes', 'Crash restarts since the previous check plus errored/stopped '
                  'instances (the pm2_crashes alert).'),
    rule=Rule('TwzrdPm2AppCrashing', 'PM2 app {subject} crashed {value} time(s) or has instances down'))

# --- checks that stay code, registered for their docs and runbooks ---------------------------

DISK_FORECAST = Check(
    'disk_forecast', code=True, reads='disk_forecast', per='path', field='days_left', worse=LOWER,
    reading_options=('forecast_warning_days', 'forecast_critical_days'),
    thresholds_doc='warning when full within 14 days, critical within 3 (`forecast_warning_days`, '
                   '`forecast_critical_days`); fit over `forecast_days` (7)',
    remediation='(plugins/module_utils/checks/forecast.py)', anchor='disk-full',
    doc='At the growth rate of the hourly disk samples (least-squares line, Prometheus\' `predict_linear` idea) '
        'the disk is full on `full_date`. `value` is the days left, `threshold` the horizon crossed; the alert also '
        'carries `rate_bytes_per_day` and `full_date`. No forecast from fewer than 24 samples, less than a day of '
        'them, or a flat/shrinking disk; a cleanup (a drop of > 1 % of the disk) starts the series again. Resolves '
        'once the days left are back past the horizon by the hysteresis margin, or the disk stops growing. '
        'Subject: the path. [docs/report.md](report.md#forecasts)',
    todo='Act before that date: `du -xh --max-depth=2 PATH \\| sort -h \\| tail` to find what grows; rotate or '
         'delete old logs, add retention to what keeps growing, or grow the volume. A one-off copy that will not '
         'repeat makes it pessimistic: it corrects itself as new samples come in.')

PM2_DAEMON = Check(
    'pm2_daemon', code=True,
    thresholds_doc='critical when `pm2_expected_apps` is set, or when the daemon ran apps at the previous alerts '
                   'run (a daemon found without configuration is remembered, docs/health.md)',
    remediation='Start PM2 again as its user and restore the saved apps: `pm2 resurrect` (then '
                '`pm2 save`). Make it survive reboots with `pm2 startup`. If PM2 was retired on purpose, '
                'clear pm2_expected_apps and remove the state file (/var/lib/twzrd/state.json).',
    anchor='pm2-gone-after-a-reboot',
    doc='The PM2 daemon is not running (no live PID in `$PM2_HOME/pm2.pid`, or the PID now belongs to a process '
        'that is not PM2\'s God daemon): it died or was never started. The check never starts a daemon. Repeats '
        'every run until the daemon is back. Subject: the owner, when several daemons are checked.',
    todo='As the PM2 user: `pm2 resurrect`, then `pm2 save`; `pm2 startup` so it survives reboots. If PM2 was '
         'retired on purpose: clear `pm2_expected_apps` and remove `/var/lib/twzrd/state.json`.')

PM2_MISSING_APP = Check(
    'pm2_missing_app', code=True, thresholds_doc='critical',
    remediation='Start the app (`pm2 start ecosystem.config.js --only {app}`) and `pm2 save`, or '
                'remove it from pm2_expected_apps if it was retired.',
    anchor='pm2-gone-after-a-reboot',
    doc='An app listed in `pm2_expected_apps` is not in PM2\'s process list. Subject: the app.',
    todo='`pm2 start ecosystem.config.js --only APP && pm2 save`, or remove it from `pm2_expected_apps`.')

PM2_QUERY = Check(
    'pm2_query', code=True, thresholds_doc='warning',
    remediation='Run `pm2 jlist` as the PM2 user with the same PM2_HOME and read the error; check '
                'pm2_bin, pm2_home and pm2_user.',
    anchor='pm2-cannot-be-queried',
    doc='pm2 runs but could not be queried (binary missing, timeout, unreadable output), the job user cannot read '
        '`PM2_HOME` (then whether PM2 runs is unknown; it is not reported as a dead daemon), or a daemon found '
        'running cannot be read (no pm2 binary beside its node or on `PATH`, its `PM2_HOME` cannot be told, the job '
        'is not root). Subject: the owner, when several daemons are checked.',
    todo='Run `pm2 jlist` as the PM2 user with the same `PM2_HOME`; set what the message names: `pm2_bin`, '
         '`pm2_home`, `pm2_user`.')

REPORT_CRASH_RESTARTS = Check(
    'report_crash_restarts', code=True, modes=('report',), job='health',
    thresholds_doc='report mode; warning > 5, critical > 50 (`report_crash_restarts_warning`, '
                   '`report_crash_restarts_critical`)',
    remediation=PM2_CRASHES.remediation, anchor='an-app-crash-loops',
    doc='Crash restarts of one PM2 app over the report period, as the hourly alerts job counted them per day: an '
        'app that kept crashing all week, even where each hourly alert was told once. Subject: the app.',
    todo='`pm2 logs APP --err --lines 200`, `pm2 describe APP` as the PM2 user; fix the cause.')

LOG_ERRORS_PER_DAY = Check(
    'log_errors_per_day', code=True, modes=('report',), job='health',
    thresholds_doc='report mode; warning > 10, critical > 500 (`log_errors_per_day_warning`, '
                   '`log_errors_per_day_critical`)',
    remediation='Read the top messages in the report (report.log_errors) and the log they come from; fix the '
                'cause, or tune error_patterns if they are not errors.',
    anchor='errors-in-the-logs',
    doc='Error lines in the logs on the busiest day of the report period, every source together; the message '
        'names the day.',
    todo='Read `report.log_errors` (top messages per source) and the log they come from; fix the cause or tune '
         '`error_patterns`.')

LOG_ERRORS = Check(
    'log_errors', code=True, modes=('report',), job='health',
    thresholds_doc='report mode, only when `log_errors_warning` is set',
    remediation='Read the top messages in the report (report.log_errors) and the log they come from; '
                'fix the cause or tune error_patterns if they are not errors.',
    anchor='errors-in-the-logs',
    doc='More error lines than the threshold in the report period.',
    todo='Read `report.log_errors` (top messages per source, redacted) and the log they come from; fix the cause '
         'or tune `error_patterns`.')

# In the order docs/alerts.md lists them.
CHECKS = [SWAP, MEMORY, OOM_KILLS, LOAD, DISK, INODES, DISK_FORECAST, PM2_CRASHES, PM2_DAEMON, PM2_MISSING_APP, PM2_QUERY,
          HTTP, POSTGRES, REPORT_CRASH_RESTARTS, LOG_ERRORS_PER_DAY, LOG_ERRORS]
BY_NAME = dict((entry.name, entry) for entry in CHECKS)
