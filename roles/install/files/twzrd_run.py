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

Output is written for cron's mail: nothing when the status is ok, a short
summary (message and remediation of each alert) on warning/critical, the
error on a failure.  The module appends its own log line; when it could not
(crash, bad arguments, timeout), the runner appends a ``status=failed`` line.

Exit codes (Nagios style): 0 ok, 1 warning, 2 critical, 3 failure.

``twzrd-run --status [--json]`` lists the installed jobs (from the cron file),
their schedule, user, log and the last line of that log: the last run and
its result (what ``playbooks/verify.yml`` shows).
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


def fail(job, module, log_file, started, message, logged):
    print('twzrd %s on %s: FAILED: %s' % (job, socket.gethostname(), message))
    if log_file and not logged:
        try:
            append_line(log_file, failure_line(module, job, started, message))
        except OSError as exc:
            print('could not write %s: %s' % (log_file, exc))
    return FAILED


def run(job, config_dir):
    started = time.time()
    if not JOB_RE.match(job):
        return fail(job, None, None, started, 'invalid job name %r' % job, False)
    config_path = os.path.join(config_dir, job + '.json')
    try:
        with open(config_path) as handle:
            config = json.load(handle)
        args = config['ANSIBLE_MODULE_ARGS']
        runner = config.get('twzrd_run') or {}
        module = runner['module']
        if not MODULE_RE.match(module):
            raise ValueError('invalid module name %r' % module)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return fail(job, None, None, started, 'cannot read %s: %s' % (config_path, exc), False)

    log_file = args.get('log_file')
    size_before = log_size(log_file) if log_file else None
    python = setting('TWZRD_PYTHON', os.path.join(PREFIX, 'venv', 'bin', 'python'))
    env = {
        'PATH': os.environ.get('PATH') or '/usr/sbin:/usr/bin:/sbin:/bin',
        'PYTHONPATH': setting('TWZRD_PYTHONPATH', os.path.join(PREFIX, 'collections')),
        'LANG': 'C.UTF-8',
        'HOME': os.environ.get('HOME') or '/root',
        # Never write .pyc next to the deployed collection (keeps the role idempotent).
        'PYTHONDONTWRITEBYTECODE': '1',
    }
    command = [python, '-m', 'ansible_collections.twzrd.ops.plugins.modules.' + module, config_path]
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, env=env, cwd='/', check=False,
                              timeout=float(runner.get('timeout') or 3000))
    except subprocess.TimeoutExpired as exc:
        return fail(job, module, log_file, started,
                    '%s killed after %ss (timeout)' % (module, exc.timeout), False)
    except OSError as exc:
        return fail(job, module, log_file, started, 'cannot run %s: %s' % (python, exc), False)

    logged = log_file is not None and log_size(log_file) != size_before
    try:
        result = json.loads(proc.stdout)
        if not isinstance(result, dict):
            raise ValueError('not a JSON object')
    except ValueError:
        detail = short(proc.stderr) or short(proc.stdout) or 'no output'
        return fail(job, module, log_file, started,
                    '%s crashed (exit %d): %s' % (module, proc.returncode, detail), logged)
    if result.get('failed') or proc.returncode != 0:
        message = short(result.get('msg')) or 'exit %d' % proc.returncode
        return fail(job, module, log_file, started, '%s failed: %s' % (module, message), logged)

    status = result.get('status')
    if status not in EXIT:
        return fail(job, module, log_file, started,
                    '%s returned no valid status (%r)' % (module, status), logged)
    if status != 'ok' or worth_mailing(warning_texts(result)):
        print(summary(job, result))
    return EXIT[status]


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
    if len(args) != 1 or args[0].startswith('-'):
        sys.stderr.write('usage: twzrd-run [--config-dir DIR] JOB | --status [--json]\n')
        return FAILED
    return run(args[0], config_dir)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
