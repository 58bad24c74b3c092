# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""twzrd-run JOB: what cron runs (installed by the twzrd.ops.install role).

Runs the job's module directly, the same code as the playbooks (DESIGN.md,
"One code path"): ``VENV/bin/python -m ansible_collections.twzrd.ops.plugins.
modules.MODULE CONFIG_DIR/JOB.json``.  The job file is the module's argument
file plus the runner's own key::

    {"twzrd_run": {"module": "twzrd_health", "timeout": 3000},
     "ANSIBLE_MODULE_ARGS": {"mode": "alerts", "log_file": "...", ...}}

Output is written for cron's mail, the fallback channel (docs/notifications.md):
the module's ``message`` (what changed: told once per change, like the
notification channels) when no channel took it, warnings a person must see,
and every failure with what to do.  Nothing at all on a quiet run.  The
module logs, tracks and notifies itself (its result says ``twzrd_reported``);
when it could not (crash, bad arguments, timeout, unreadable job file) the
runner hands the failure to ``twzrd_notify``, which tracks, notifies and
logs it in the job's own state, de-duplicated the same way; only if that
fails too does the runner append a ``status=failed`` line itself.

Notification settings are also in ``CONFIG_DIR/JOB.notify.json`` (same owner
and mode), so a job file that cannot be read is still reported.

Exit codes (Nagios style): 0 ok, 1 warning, 2 critical, 3 failure.

``twzrd-run --status [--json]`` lists the installed jobs (from the cron file),
their schedule, user, log and the last line of that log: the last run and
its result (what ``playbooks/verify.yml`` shows).

``twzrd-run --test-notify [JOB...]`` sends a test message through every
channel the installed jobs use (each distinct channel list once) and prints,
per channel, whether it went through (exit 0 when all did).
Standard library only, so it still reports when the venv is broken.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

OK, WARNING, CRITICAL, FAILED = 0, 1, 2, 3
EXIT = {'ok': OK, 'warning': WARNING, 'critical': CRITICAL}
# plugins/module_utils/state.py's words for a state file that is simply not there yet.
FIRST_RUN_NOTICE = 'does not exist yet: fresh start'
JOB_RE = re.compile(r'^[a-z0-9][a-z0-9_-]*$')
MODULE_RE = re.compile(r'^[a-z0-9_]+$')
# Cron jobs the role installs; a failure of one of these can be tracked in its own state.
KNOWN_JOBS = ('alerts', 'health', 'db_health', 'vacuum', 'restart')
DB_JOBS = ('db_health', 'vacuum')   # tracked per database (login_db), like the modules do
# report_dir: a failed weekly job keeps its (failed) report like a run that completed.
NOTIFY_KEYS = ('notify', 'ping_url', 'state_file', 'log_file', 'report_dir', 'report_keep')
NOTIFY_MODULE = 'twzrd_notify'
# Same quoting as plugins/module_utils/logline.py (docs/logs.md), kept here so the
# runner needs nothing but the standard library.
_BARE = re.compile(r'^[A-Za-z0-9_.:/@+%,-]+$')

HERE = os.path.dirname(os.path.realpath(__file__))
PREFIX = os.path.dirname(HERE)


def setting(name, default):
    return os.environ.get(name) or default


def format_value(value):
    text = str(value).replace('\r', ' ').replace('\n', ' ')
    if text and _BARE.match(text):
        return text
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def failure_line(module, job, started, message):
    fields = [
        ('ts', time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(started))),
        ('job', module or job),
        ('cron_job', job),
        ('status', 'failed'),
        ('alerts', 0),
        ('duration_ms', int(round((time.time() - started) * 1000))),
        ('msg', message),
    ]
    return ' '.join('%s=%s' % (key, format_value(value)) for key, value in fields)


def append_line(path, line):
    data = (line.replace('\n', ' ') + '\n').encode('utf-8', 'replace')
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def log_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def short(text, limit=600):
    text = ' '.join((text or '').split())
    return text if len(text) <= limit else text[:limit] + '...'


def summary(job, result):
    """A few lines a person reads in a cron mail."""
    alerts = result.get('alerts') or []
    lines = ['twzrd %s on %s: %s, %d alert(s)' % (
        job, socket.gethostname(), str(result.get('status')).upper(), len(alerts))]
    for alert in alerts:
        lines.append('- [%s] %s: %s' % (alert.get('level'), alert.get('check'), alert.get('message')))
        if alert.get('remediation'):
            lines.append('  fix: %s' % alert.get('remediation'))
    for warning in warning_texts(result):
        lines.append('warning: %s' % warning)
    return '\n'.join(lines)


def warning_texts(result):
    """Module warnings as text (ansible-core 2.19 returns them as {'event': {'msg': ...}} dicts)."""
    texts = []
    for warning in result.get('warnings') or []:
        if isinstance(warning, dict):
            warning = (warning.get('event') or {}).get('msg') or warning.get('msg') or json.dumps(warning)
        texts.append(str(warning))
    return texts


def worth_mailing(warnings):
    """Warnings a person must see even when all checks pass (a corrupt state file, an
    unwritable log); the state file's first-run notice is not one of them."""
    return [w for w in warnings if FIRST_RUN_NOTICE not in w]


def module_command(python, module):
    return [python, '-m', 'ansible_collections.twzrd.ops.plugins.modules.' + module]


def module_env():
    return {
        'PATH': os.environ.get('PATH') or '/usr/sbin:/usr/bin:/sbin:/bin',
        'PYTHONPATH': setting('TWZRD_PYTHONPATH', os.path.join(PREFIX, 'collections')),
        'LANG': 'C.UTF-8',
        'HOME': os.environ.get('HOME') or '/root',
        # Never write .pyc next to the deployed collection (keeps the role idempotent).
        'PYTHONDONTWRITEBYTECODE': '1',
    }


def venv_python():
    return setting('TWZRD_PYTHON', os.path.join(PREFIX, 'venv', 'bin', 'python'))


def call_module(module, args, timeout):
    """Run a module with ``args`` on stdin (never in argv: they may hold secrets); its JSON result or None."""
    try:
        proc = subprocess.run(module_command(venv_python(), module),
                              input=json.dumps({'ANSIBLE_MODULE_ARGS': args}),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              env=module_env(), cwd='/', check=False, timeout=timeout)
        result = json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return result if isinstance(result, dict) else None


def report_failure(job, settings, message, remediation):
    """Let twzrd_notify track, notify and log a failure the module could not report.

    Returns its result, or None when there was nothing to report with or it failed too.
    """
    if job not in KNOWN_JOBS or not settings:
        return None
    args = dict((key, settings[key]) for key in NOTIFY_KEYS if settings.get(key) is not None)
    failure = {'job': job, 'msg': message, 'remediation': remediation}
    if job in DB_JOBS:
        failure['instance'] = settings.get('login_db') or 'postgres'
    args['failure'] = failure
    timeout = float((settings.get('notify') or {}).get('timeout') or 20) + 60
    result = call_module(NOTIFY_MODULE, args, timeout)
    return result if result and result.get('twzrd_reported') else None


def fail(job, module, settings, started, message, remediation, logged):
    """A run that could not do its job: report it (channels, state, log), print it for cron mail."""
    log_file = (settings or {}).get('log_file')
    reported = None if logged else report_failure(job, settings, message, remediation)
    if reported is not None:
        # Tracked like an alert: printed when it is news or no channel took it.
        text = person_text(reported)
        if text:
            print(text)
        return FAILED
    print('twzrd %s on %s: FAILED: %s' % (job, socket.gethostname(), message))
    if remediation:
        print('fix: %s' % remediation)
    if log_file and not logged:
        try:
            append_line(log_file, failure_line(module, job, started, message))
        except OSError as exc:
            print('could not write %s: %s' % (log_file, exc))
    return FAILED


def person_text(result):
    """What cron should mail from a module that reported itself: its message, unless a channel took it."""
    notification = result.get('notification')
    if isinstance(notification, dict):
        return notification.get('undelivered')
    return result.get('message')


def read_json(path):
    with open(path) as handle:
        return json.load(handle)


def fallback_settings(config_dir, job):
    """The job's notification settings from JOB.notify.json, when its job file cannot be read."""
    try:
        settings = read_json(os.path.join(config_dir, job + '.notify.json'))
    except (OSError, ValueError):
        return None
    return settings if isinstance(settings, dict) else None


RUNBOOK = ' (docs/runbooks.md#a-job-failed)'


def remediation_for(kind, job, python=None, timeout=None):
    """What a person does about a failure the runner saw (not the module)."""
    if kind == 'config':
        text = ('Re-run the install playbook to rewrite the job file (owner: the job\'s user, mode 0600); '
                'python3 -m json.tool shows where it is broken.')
    elif kind == 'python':
        text = 'The runtime %s is missing or broken: re-run the install playbook (install.yml).' % python
    elif kind == 'timeout':
        text = ('It ran longer than %gs: see what was slow in its log; if the work is legitimately longer, '
                'raise install_job_timeout and re-run the install playbook.' % timeout)
    elif kind == 'arguments':
        text = ('Fix the job\'s arguments (install_%s_args) and re-run the install playbook; '
                'twzrd-run %s shows the module\'s whole error.' % (job, job))
    else:
        text = ('A broken runtime (ImportError, missing package) is fixed by re-running the install playbook; '
                'otherwise run it by hand to see the whole error: twzrd-run %s (as the job\'s user, see '
                'twzrd-run --status) and report it.' % job)
    return text + RUNBOOK


def run(job, config_dir):
    started = time.time()
    if not JOB_RE.match(job):
        return fail(job, None, None, started, 'invalid job name %r' % job, None, False)
    config_path = os.path.join(config_dir, job + '.json')
    try:
        config = read_json(config_path)
        args = config['ANSIBLE_MODULE_ARGS']
        runner = config.get('twzrd_run') or {}
        module = runner['module']
        if not MODULE_RE.match(module) or not isinstance(args, dict):
            raise ValueError('invalid module name %r' % module)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return fail(job, None, fallback_settings(config_dir, job), started,
                    'cannot read %s: %s' % (config_path, exc), remediation_for('config', job), False)

    log_file = args.get('log_file')
    size_before = log_size(log_file) if log_file else None
    python = venv_python()
    timeout = float(runner.get('timeout') or 3000)
    try:
        proc = subprocess.run(module_command(python, module) + [config_path], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=module_env(), cwd='/',
                              check=False, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return fail(job, module, args, started, '%s killed after %ss (timeout)' % (module, exc.timeout),
                    remediation_for('timeout', job, timeout=timeout), False)
    except OSError as exc:
        return fail(job, module, args, started, 'cannot run %s: %s' % (python, exc),
                    remediation_for('python', job, python=python), False)

    logged = log_file is not None and log_size(log_file) != size_before
    try:
        result = json.loads(proc.stdout)
        if not isinstance(result, dict):
            raise ValueError('not a JSON object')
    except ValueError:
        detail = short(proc.stderr) or short(proc.stdout) or 'no output'
        return fail(job, module, args, started, '%s crashed (exit %d): %s' % (module, proc.returncode, detail),
                    remediation_for('crash', job), logged)
    reported = bool(result.get('twzrd_reported'))
    if result.get('failed') or proc.returncode != 0:
        if reported:
            # The module tracked, notified and logged its own failure: print only what is news.
            text = person_text(result)
            if text:
                print(text)
            return FAILED
        message = short(result.get('msg')) or 'exit %d' % proc.returncode
        return fail(job, module, args, started, '%s failed: %s' % (module, message),
                    remediation_for('arguments', job), logged)

    status = result.get('status')
    if status not in EXIT:
        return fail(job, module, args, started, '%s returned no valid status (%r)' % (module, status),
                    remediation_for('crash', job), logged)
    if reported:
        lines = [person_text(result)] + ['warning: %s' % w for w in worth_mailing(warning_texts(result))]
        text = '\n'.join(line for line in lines if line)
        if text:
            print(text)
    elif status != 'ok' or worth_mailing(warning_texts(result)):
        print(summary(job, result))
    return EXIT[status]


def test_notify(config_dir, jobs):
    """Send a test message through every distinct channel list of the installed jobs."""
    try:
        names = jobs or sorted(name[:-len('.json')] for name in os.listdir(config_dir)
                               if name.endswith('.json') and not name.endswith('.notify.json'))
    except OSError as exc:
        print('cannot list %s: %s' % (config_dir, exc))
        return FAILED
    groups = []   # [(urls, settings, [job, ...])]
    for job in names:
        try:
            settings = read_json(os.path.join(config_dir, job + '.json'))['ANSIBLE_MODULE_ARGS']
        except (OSError, ValueError, KeyError, TypeError) as exc:
            settings = fallback_settings(config_dir, job)
            if settings is None:
                print('%s: cannot read its job file (%s)' % (job, exc.__class__.__name__))
                continue
        urls = list((settings.get('notify') or {}).get('urls') or [])
        if not urls:
            print('%s: no notify.urls configured (twzrd_notify, docs/configuration.md)' % job)
            continue
        for group in groups:
            if group[0] == urls:
                group[2].append(job)
                break
        else:
            groups.append((urls, settings, [job]))
    if not groups:
        print('nothing to test: no job has notify.urls')
        return FAILED
    code = OK
    for urls, settings, group_jobs in groups:
        notify = dict(settings.get('notify') or {})
        result = call_module(NOTIFY_MODULE, {'test': True, 'notify': notify}, float(notify.get('timeout') or 20) + 60)
        print('channels of %s:' % ', '.join(group_jobs))
        if result is None or not result.get('deliveries'):
            print('  could not run %s: %s' % (NOTIFY_MODULE, short((result or {}).get('msg')) or 'no result'))
            code = FAILED
            continue
        for delivery in result['deliveries']:
            print('  %-12s %s' % (delivery['channel'], 'delivered' if delivery['ok'] else
                                  'NOT delivered: %s' % delivery.get('error')))
            if not delivery['ok']:
                code = FAILED
    return code


def parse_logline(line):
    """logfmt back into a dict (the inverse of format_value)."""
    parsed = {}
    for key, raw in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        if raw.startswith('"'):
            raw = re.sub(r'\\(.)', r'\1', raw[1:-1])
        parsed[key] = raw
    return parsed


def last_line(path):
    try:
        with open(path, 'rb') as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 65536))
            lines = handle.read().decode('utf-8', 'replace').splitlines()
    except OSError:
        return None
    return lines[-1] if lines else None


def installed_jobs(cron_file, config_dir):
    jobs = []
    try:
        with open(cron_file) as handle:
            entries = handle.read().splitlines()
    except OSError:
        return None
    for entry in entries:
        fields = entry.split()
        if len(fields) < 8 or entry.lstrip().startswith('#') or 'twzrd-run' not in entry:
            continue
        job = {'job': fields[-1], 'schedule': ' '.join(fields[:5]), 'user': fields[5],
               'module': None, 'log_file': None, 'last_run': None, 'last_status': None, 'last_msg': None}
        try:
            with open(os.path.join(config_dir, job['job'] + '.json')) as handle:
                config = json.load(handle)
            job['module'] = (config.get('twzrd_run') or {}).get('module')
            job['log_file'] = config['ANSIBLE_MODULE_ARGS'].get('log_file')
        except (OSError, ValueError, KeyError, TypeError) as exc:
            job['last_msg'] = 'cannot read the job file: %s' % exc
        line = last_line(job['log_file']) if job['log_file'] else None
        if line:
            fields = parse_logline(line)
            job.update(last_run=fields.get('ts'), last_status=fields.get('status'), last_msg=fields.get('msg'))
        elif job['log_file']:
            job['last_msg'] = 'never ran'
        jobs.append(job)
    return jobs


def status(config_dir, cron_file, as_json):
    jobs = installed_jobs(cron_file, config_dir)
    if jobs is None:
        print('%s: not installed' % cron_file)
        return FAILED
    if as_json:
        print(json.dumps({'cron_file': cron_file, 'jobs': jobs}, indent=2, sort_keys=True))
        return OK
    for job in jobs:
        print('%-10s %-13s %-8s %-16s last: %s %s' % (
            job['job'], job['schedule'], job['user'], job['module'],
            job['last_run'] or '-', job['last_status'] or '-'))
        print('%10s log %s: %s' % ('', job['log_file'], short(job['last_msg'] or '', 160)))
    return OK


def main(argv):
    config_dir = setting('TWZRD_CONFIG_DIR', '/etc/twzrd')
    args = list(argv[1:])
    if len(args) >= 2 and args[0] == '--config-dir':
        config_dir = args[1]
        args = args[2:]
    if args[:1] == ['--status']:
        return status(config_dir, setting('TWZRD_CRON_FILE', '/etc/cron.d/twzrd'), '--json' in args)
    if args[:1] == ['--test-notify']:
        if not all(JOB_RE.match(job) for job in args[1:]):
            sys.stderr.write('twzrd-run --test-notify: invalid job name\n')
            return FAILED
        return test_notify(config_dir, args[1:])
    if len(args) != 1 or args[0].startswith('-'):
        sys.stderr.write('usage: twzrd-run [--config-dir DIR] JOB | --status [--json] | --test-notify [JOB...]\n')
        return FAILED
    return run(args[0], config_dir)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
