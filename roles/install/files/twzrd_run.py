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

Exit codes (Nagios style): 0 ok, 1 warning, 2 critical, 3 failure.  Any
runner error (unreadable job file, bad timeout, a lock held elsewhere) is 3
with a FAILED line for cron's mail and a ``status=failed`` log line.

``--lock PATH`` takes an exclusive, non-blocking ``flock`` on PATH for the
run (the role's lock files are 0600, owned by the job user).  A run that
cannot take it does not vanish: it is a failure, printed and logged.

``twzrd-run --status [--json]`` lists the installed jobs (from the cron file),
their schedule, user, log and the last line of that log: the last run and
its result (what ``playbooks/verify.yml`` shows).
Standard library only, so it still reports when the venv is broken.
"""

import fcntl
import json
import math
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
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o640)  # a FIFO must not hang us
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
        except (OSError, ValueError) as exc:
            print('could not write %s: %s' % (log_file, exc))
    return FAILED


class JobFileError(ValueError):
    """The job file does not say what to run (its message names the key)."""


def read_job(config_path):
    """``(module, args, timeout, log_file)`` from a job file; raises JobFileError/OSError/ValueError."""
    with open(config_path) as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise JobFileError('the job file is not a JSON object')
    args = config.get('ANSIBLE_MODULE_ARGS')
    if not isinstance(args, dict):
        raise JobFileError('ANSIBLE_MODULE_ARGS must be an object')
    runner = config.get('twzrd_run')
    if not isinstance(runner, dict):
        raise JobFileError('twzrd_run must be an object with module and timeout')
    module = runner.get('module')
    if not isinstance(module, str) or not MODULE_RE.match(module):
        raise JobFileError('twzrd_run.module must name a module, got %r' % (module,))
    timeout = runner.get('timeout') or 3000
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or not 0 < timeout <= 7 * 86400:
        raise JobFileError('twzrd_run.timeout must be a number of seconds between 1 and 604800, got %r' % (timeout,))
    log_file = args.get('log_file')
    if log_file is not None and (not isinstance(log_file, str) or '\x00' in log_file):
        raise JobFileError('ANSIBLE_MODULE_ARGS.log_file must be a path without NUL bytes')
    return module, args, float(timeout), log_file


def _log_file_of(config_path):
    """The log file a broken job file still names, to log its failure there (None when unusable)."""
    try:
        with open(config_path) as handle:
            log_file = json.load(handle).get('ANSIBLE_MODULE_ARGS', {}).get('log_file')
    except (OSError, ValueError, AttributeError, TypeError):
        return None
    return log_file if isinstance(log_file, str) and log_file and '\x00' not in log_file else None


def take_lock(path):
    """An fd holding an exclusive flock on ``path``, or None when someone else holds it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != 2:  # ENOENT: the role did not create it (a manual run): make it, private
            raise
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def run(job, config_dir, lock=None):
    started = time.time()
    if not JOB_RE.match(job):
        return fail(job, None, None, started, 'invalid job name %r' % job, False)
    config_path = os.path.join(config_dir, job + '.json')
    try:
        module, args, timeout, log_file = read_job(config_path)
    except (OSError, ValueError) as exc:
        return fail(job, None, _log_file_of(config_path), started, 'cannot read %s: %s' % (config_path, exc), False)
    if lock:
        try:
            held = take_lock(lock)
        except OSError as exc:
            return fail(job, module, log_file, started, 'cannot open the lock %s: %s' % (lock, exc), False)
        if held is None:
            return fail(job, module, log_file, started,
                        'lock %s is held by another process (a previous run still running, or another user '
                        'holding it): this run did not start' % lock, False)
    return run_module(job, module, config_path, timeout, log_file, started)


def run_module(job, module, config_path, timeout, log_file, started):
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
                              timeout=timeout)
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
    lock = None
    while len(args) >= 2 and args[0] in ('--config-dir', '--lock'):
        if args[0] == '--config-dir':
            config_dir = args[1]
        else:
            lock = args[1]
        args = args[2:]
    if args[:1] == ['--status']:
        return status(config_dir, setting('TWZRD_CRON_FILE', '/etc/cron.d/twzrd'), '--json' in args)
    if len(args) != 1 or args[0].startswith('-'):
        print('twzrd-run: FAILED: usage: twzrd-run [--config-dir DIR] [--lock FILE] JOB | --status [--json]')
        return FAILED
    try:
        return run(args[0], config_dir, lock)
    except Exception as exc:  # pylint: disable=broad-except  # cron must see exit 3 and a FAILED line, never 1
        return fail(args[0], None, None, time.time(), 'twzrd-run error: %s: %s' % (type(exc).__name__, exc), False)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
