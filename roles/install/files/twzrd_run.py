# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""twzrd-run JOB: what cron runs (installed by the twzrd.ops.install role).

Runs the job's module directly, the same code as the playbooks (docs/design.md,
"One code path for cron and playbooks"): ``VENV/bin/python -m ansible_collections.twzrd.ops.plugins.
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

Exit codes (Nagios style): 0 ok, 1 warning, 2 critical, 3 failure.  Any
runner error (unreadable job file, bad timeout, a lock held elsewhere) is 3
with a FAILED line for cron's mail and a ``status=failed`` log line.

``--lock PATH`` takes an exclusive, non-blocking ``flock`` on PATH for the
run (the role's lock files are 0600, owned by the job user).  A run that
cannot take it does not vanish: it is a failure, printed and logged.

The module runs in a process group of its own.  SIGTERM, SIGINT and SIGHUP to the runner
are forwarded to that group; on the job timeout, or when a signalled module does not end
within TWZRD_KILL_GRACE seconds (10), the whole group gets SIGKILL.  The lock is released
only when no process of the group is left (what a module leaves behind is ended too), and
the module itself holds the lock as well, so even a runner killed with SIGKILL leaves the lock
held until the module ends.  A stopped run is a failure: printed and logged (``status=failed``).

``twzrd-run --status [--json]`` lists the installed jobs (from the cron file),
their schedule, user, log and the last line of that log (or of its rotated
copy): the last run and its result, and each job's problems: it never ran
although it was due, its last result is critical or failed, or its last run
is older than its schedule allows; and whether the cron daemon runs (what
``playbooks/verify.yml`` checks).

``twzrd-run --test-notify [JOB...]`` sends a test message through every
channel the installed jobs use (each distinct channel list once) and prints,
per channel, whether it went through (exit 0 when all did).
``twzrd-run --silence CHECK[:SUBJECT] --for DURATION --reason TEXT`` silences
a check (one subject, or all) on this host for every job until it expires;
``--silences`` lists the active ones, ``--unsilence ID|CHECK[:SUBJECT]`` ends
one early.  They live in ``CONFIG_DIR/silences.json`` (root, 0644, written
atomically: the postgres jobs read it, never write it), each action is
logged (who, when, reason) to ``TWZRD_SILENCE_LOG``
(/var/log/twzrd-silences.log), and ``--status`` shows them.  The jobs read
the file at their report stage (plugins/module_utils/silences.py).
Standard library only, so it still reports when the venv is broken.
"""

import calendar
import ctypes
import datetime
import fcntl
import gzip
import json
import math
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import unicodedata

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

# Every check a job can raise (tests/unit/test_alert_lifecycle_silences.py keeps it in step with plugins/):
# a silence of a misspelt check would silence nothing, silently.
KNOWN_CHECKS = (
    'connection', 'connections', 'database_growth', 'database_size', 'db_size_forecast', 'dead_rows', 'disk',
    'disk_forecast', 'expected_tables', 'idle_in_transaction', 'job_failed', 'latency', 'load', 'log_errors', 'log_errors_per_day',
    'migrations', 'pg_monitor', 'pm2_crashes', 'pm2_daemon', 'pm2_missing_app', 'pm2_query', 'pm2_restart', 'primary_keys',
    'report_crash_restarts', 'settings', 'swap', 'tables', 'transaction_age', 'vacuum_connection_lost', 'vacuum_failed', 'vacuum_incomplete',
    'vacuum_not_found', 'vacuum_skipped', 'visibility', 'wraparound')
SILENCES_FILE = 'silences.json'
DURATION_RE = re.compile(r'^(?:\d{1,6}[smhdw])+$')
UNITS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 7 * 86400}
MAX_SILENCE = 365 * 86400

HERE = os.path.dirname(os.path.realpath(__file__))
PREFIX = os.path.dirname(HERE)


def setting(name, default):
    return os.environ.get(name) or default


def escape(text):
    """Line breaks of any kind (str.splitlines()), control and format characters as visible escapes:
    a name in a message can neither forge a line nor drive a terminal (logline.py does the same)."""
    out = []
    for char in text:
        code = ord(char)
        if char in '\n\r\t':
            out.append(' ')
        elif unicodedata.category(char) in ('Cc', 'Cf', 'Cs', 'Zl', 'Zp'):
            out.append('\\x%02x' % code if code < 0x100 else '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code)
        else:
            out.append(char)
    return ''.join(out)


def format_value(value):
    text = escape(str(value))
    if len(text) > 8192:   # a bounded line (docs/logs.md): --status and tail read it whole
        text = text[:8189] + '...'
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
        # The silences of this config dir (main() sets it), whichever user the job runs as.
        'TWZRD_SILENCES_FILE': os.environ.get('TWZRD_SILENCES_FILE') or os.path.join('/etc/twzrd', SILENCES_FILE),
    }


def venv_python():
    return setting('TWZRD_PYTHON', os.path.join(PREFIX, 'venv', 'bin', 'python'))


def call_module(module, args, timeout):
    """Run a module with ``args`` on stdin (never in argv: they may hold secrets); its JSON result or None.

    Like the job files, it logs nothing to the journal unless the job asked (``_ansible_no_log``).
    """
    args = dict({'_ansible_no_log': True}, **args)
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
    args = dict((key, settings[key]) for key in NOTIFY_KEYS + ('_ansible_no_log',) if settings.get(key) is not None)
    failure = {'job': job, 'msg': message, 'remediation': remediation}
    if job in DB_JOBS:
        failure['instance'] = settings.get('login_db') or 'postgres'
    args['failure'] = failure
    timeout = float((settings.get('notify') or {}).get('timeout') or 20) + 60
    result = call_module(NOTIFY_MODULE, args, timeout)
    return result if result and result.get('twzrd_reported') else None


def fail(job, module, settings, started, message, remediation, logged, notify=True):
    """A run that could not do its job: report it (channels, state, log), print it for cron mail.

    ``notify=False`` (a run stopped by a signal: a shutdown or a person) only prints and logs it.
    """
    log_file = (settings or {}).get('log_file')
    reported = None if logged or not notify else report_failure(job, settings, message, remediation)
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
        except (OSError, ValueError) as exc:
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


def remediation_for(kind, job, python=None, timeout=None, lock=None):
    """What a person does about a failure the runner saw (not the module)."""
    if kind == 'lock':
        text = ('The lock file %s cannot be opened: re-run the install playbook (it creates the lock files, '
                'owned by each job\'s user).' % lock)
    elif kind == 'locked':
        text = ('A previous run still holds %s: twzrd-run --status and `ps -ef | grep twzrd` show it; if it hangs, '
                'see what it waits for in its log before killing it; if no run is left, `fuser -v %s` names the '
                'holder.' % (lock, lock))
    elif kind == 'config':
        text = ('Re-run the install playbook to rewrite the job file (owner: the job\'s user, mode 0600); '
                'python3 -m json.tool shows where it is broken.')
    elif kind == 'python':
        text = 'The runtime %s is missing or broken: re-run the install playbook (install.yml).' % python
    elif kind == 'timeout':
        text = ('It ran longer than %gs: see what was slow in its log; if the work is legitimately longer, '
                'raise install_job_timeout and re-run the install playbook.' % timeout)
    elif kind == 'stopped':
        text = ('The run was stopped from outside (shutdown, a person, a supervisor) and its processes were ended: '
                'if that was not intended, find who sent the signal (journalctl around that time); the next '
                'scheduled run starts normally, twzrd-run %s runs it now.' % job)
    elif kind == 'arguments':
        text = ('Fix the job\'s arguments (install_%s_args) and re-run the install playbook; '
                'twzrd-run %s shows the module\'s whole error.' % (job, job))
    else:
        text = ('A broken runtime (ImportError, missing package) is fixed by re-running the install playbook; '
                'otherwise run it by hand to see the whole error: twzrd-run %s (as the job\'s user, see '
                'twzrd-run --status) and report it.' % job)
    return text + RUNBOOK


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
        return fail(job, None, None, started, 'invalid job name %r' % job, None, False)
    config_path = os.path.join(config_dir, job + '.json')
    try:
        module, args, timeout, log_file = read_job(config_path)
    except (OSError, ValueError) as exc:
        settings = fallback_settings(config_dir, job) or {'log_file': _log_file_of(config_path)}
        return fail(job, None, settings, started, 'cannot read %s: %s' % (config_path, exc),
                    remediation_for('config', job), False)
    if lock:
        try:
            held = take_lock(lock)
        except OSError as exc:
            return fail(job, module, args, started, 'cannot open the lock %s: %s' % (lock, exc),
                        remediation_for('lock', job, lock=lock), False)
        if held is None:
            return fail(job, module, args, started,
                        'lock %s is held by another process (a previous run still running, or another user '
                        'holding it): this run did not start' % lock, remediation_for('locked', job, lock=lock), False)
        # ``held`` stays open (locked) until this run returns, and the module inherits it.
        return run_module(job, module, args, config_path, timeout, log_file, started, lock_fd=held)
    return run_module(job, module, args, config_path, timeout, log_file, started)


FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def kill_grace():
    try:
        return max(0.1, float(setting('TWZRD_KILL_GRACE', '10')))
    except ValueError:
        return 10.0


def become_subreaper():
    """Orphans of the module become our children (reaped by us, not left as zombies); Linux only, best effort."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
    except OSError:
        pass   # ESRCH: the group is gone already


def group_alive(pgid):
    """Whether any process of the group is left (zombies we can reap are reaped first)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_group(pgid, grace):
    """Wait up to ``grace`` for what is left of the group, then SIGTERM, then SIGKILL; True if any was left."""
    deadline, left = time.monotonic() + grace, False
    for signum in (None, signal.SIGTERM, signal.SIGKILL):
        if signum is not None:
            signal_group(pgid, signum)
        while group_alive(pgid):
            left = True
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return left
        deadline = time.monotonic() + (grace if signum != signal.SIGKILL else 5)
    return left


def run_group(command, data, timeout, keep_fds=()):
    """Run ``command`` in a process group of its own with ``data`` (or nothing) on stdin.

    Returns ``(returncode, stdout, stderr, stopped, leftovers)``: ``stopped`` is 'timeout',
    a signal name (SIGTERM, SIGINT, SIGHUP the runner received and forwarded) or None;
    ``leftovers`` whether processes of the group outlived the module (they were ended).
    Returns only when no process of the group is left.
    """
    grace = kill_grace()
    received, group = [], []

    def forward(signum, _frame):
        received.append(signum)
        if group:
            signal_group(group[0], signum)

    previous = dict((signum, signal.signal(signum, forward)) for signum in FORWARDED_SIGNALS)
    try:
        become_subreaper()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                env=module_env(), cwd='/', start_new_session=True, pass_fds=tuple(keep_fds))
        group.append(proc.pid)
        if received:   # a signal that came before the module existed
            signal_group(proc.pid, received[0])
        now = time.monotonic()
        deadline, killed_at, stopped, leftovers, ended_at = now + timeout, None, None, False, None
        while True:
            now = time.monotonic()
            if stopped is None and received:
                stopped, killed_at = signal.Signals(received[0]).name, now + grace
            elif stopped is None and now >= deadline:
                stopped, killed_at = 'timeout', now + grace
                signal_group(proc.pid, signal.SIGTERM)
            if killed_at is not None and now >= killed_at:
                signal_group(proc.pid, signal.SIGKILL)
                killed_at = now + 3600
            wake = min(deadline if stopped is None else killed_at, now + 1.0)
            try:
                out, err = proc.communicate(data, timeout=max(0.05, wake - now))
                break
            except subprocess.TimeoutExpired as exc:
                data = None   # Popen keeps what is left to write; a retry must not pass it again
                if proc.poll() is not None and ended_at is None:
                    # The module ended, but what it started still holds its output open.
                    leftovers = end_group(proc.pid, 0.5 if stopped else grace)
                    ended_at = time.monotonic()
                elif ended_at is not None and time.monotonic() > ended_at + grace + 5:
                    # Held open by a process outside the group (it detached): take what came, stop reading.
                    out, err = [text.decode('utf-8', 'replace') if isinstance(text, bytes) else (text or '')
                                for text in (exc.stdout, exc.stderr)]
                    proc.stdout.close()
                    proc.stderr.close()
                    break
        if stopped is None and received:   # forwarded, and the module ended at once
            stopped = signal.Signals(received[0]).name
        leftovers = end_group(proc.pid, 0.5 if stopped else grace) or leftovers
        return proc.returncode, out, err, stopped, leftovers
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_module(job, module, args, config_path, timeout, log_file, started, lock_fd=None):
    size_before = log_size(log_file) if log_file else None
    python = venv_python()
    try:
        returncode, stdout, stderr, stopped, leftovers = run_group(
            module_command(python, module) + [config_path], None, timeout, [lock_fd] if lock_fd is not None else [])
    except OSError as exc:
        return fail(job, module, args, started, 'cannot run %s (job file %s): %s' % (python, config_path, exc),
                    remediation_for('python', job, python=python), False)

    logged = log_file is not None and log_size(log_file) != size_before
    if stopped == 'timeout':
        return fail(job, module, args, started, '%s killed after %ss (timeout), with every process it started'
                    % (module, timeout), remediation_for('timeout', job, timeout=timeout), False)
    if stopped:
        return fail(job, module, args, started, '%s stopped: twzrd-run received %s; the module and every process '
                    'it started were ended' % (module, stopped), remediation_for('stopped', job), False, notify=False)
    if leftovers:
        print('warning: %s left processes running after it ended; twzrd-run ended them (job %s)' % (module, job))
    proc = subprocess.CompletedProcess(module, returncode, stdout, stderr)
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
            settings = read_job(os.path.join(config_dir, job + '.json'))[1]
        except (OSError, ValueError) as exc:
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


def last_complete_line(handle, block=65536):
    """The last newline-terminated line of a seekable binary file, however long; None when there is none.

    Lines end at b'\\n' only: the writers escape every other line break (logline.py), and a
    trailing piece without its newline is a write still in progress, not a run's line.
    """
    end = handle.seek(0, os.SEEK_END)
    tail = b''
    position = end
    while position > 0:
        step = min(block, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        last = tail.rfind(b'\n')
        if last < 0:
            continue
        start = tail.rfind(b'\n', 0, last)
        if start >= 0:
            return tail[start + 1:last]
        if position == 0:
            return tail[:last]
        # the newline ending the last line was found: keep reading back to the one before it
    return None


def last_line(path):
    """The last line of a log, or of its rotated copy when logrotate just emptied it."""
    for candidate, opener in ((path, open), (path + '.1', open), (path + '.1.gz', gzip.open)):
        try:
            with opener(candidate, 'rb') as handle:
                if opener is open:
                    line = last_complete_line(handle)
                else:
                    line = None
                    for line in handle:   # streamed: a rotated log may be large
                        pass
                    line = line.rstrip(b'\n') if line and line.endswith(b'\n') else None
        except (OSError, EOFError):
            continue
        if line and line.strip():
            return line.decode('utf-8', 'replace')
    return None


# cron schedules (crontab(5)): five fields, numbers, names, ranges, steps, lists, @macros.
CRON_MACROS = {'@hourly': '0 * * * *', '@daily': '0 0 * * *', '@midnight': '0 0 * * *',
               '@weekly': '0 0 * * 0', '@monthly': '0 0 1 * *', '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *'}
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTHS = 'jan feb mar apr may jun jul aug sep oct nov dec'.split()
WEEKDAYS = 'sun mon tue wed thu fri sat'.split()
CRON_NAMES = {3: dict((name, number + 1) for number, name in enumerate(MONTHS)),
              4: dict((name, number) for number, name in enumerate(WEEKDAYS))}


def cron_field(text, index):
    low, high = CRON_RANGES[index]
    names = CRON_NAMES.get(index, {})
    values = set()
    for part in text.lower().split(','):
        body, slash, step = part.partition('/')
        step = int(step) if slash else 1
        if body == '*':
            start, end = low, high
        else:
            first, dash, last = body.partition('-')
            start = names[first] if first in names else int(first)
            end = (names[last] if last in names else int(last)) if dash else (high if slash else start)
        if not low <= start <= end <= high or step < 1:
            raise ValueError('bad cron field %r' % text)
        values.update(range(start, end + 1, step))
    if index == 4 and 7 in values:
        values.add(0)
    return values


def parse_schedule(schedule):
    fields = CRON_MACROS.get(schedule.strip(), schedule).split()
    if len(fields) != 5:
        raise ValueError('not five cron fields: %r' % schedule)
    sets = [cron_field(field, index) for index, field in enumerate(fields)]
    # cron runs a job on a day when either day field matches, unless one of them is '*'.
    either_day = not fields[2].startswith('*') and not fields[4].startswith('*')
    return sets, either_day


def previous_run(schedule, before):
    """The last time at or before ``before`` (epoch) that cron starts ``schedule`` (host-local time)."""
    (minutes, hours, days, months, weekdays), either_day = parse_schedule(schedule)
    moment = datetime.datetime.fromtimestamp(before)
    day = moment.date()
    for _back in range(4 * 366 + 1):   # every schedule fires at least once in four years
        dom, dow = day.day in days, (day.isoweekday() % 7) in weekdays
        if day.month in months and ((dom or dow) if either_day else (dom and dow)):
            for hour in sorted(hours, reverse=True):
                for minute in sorted(minutes, reverse=True):
                    start = datetime.datetime(day.year, day.month, day.day, hour, minute)
                    if start <= moment:
                        return time.mktime(start.timetuple())
        day -= datetime.timedelta(days=1)
    return None


def iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def parse_ts(text):
    try:
        return calendar.timegm(time.strptime(text, '%Y-%m-%dT%H:%M:%SZ'))
    except (TypeError, ValueError):
        return None


def job_problems(job, now, timeout, installed):
    """Why this job needs a person: failed or critical last, never ran or overdue."""
    problems = []
    if job['last_status'] in ('failed', 'critical'):
        problems.append('last run %s ended %s: %s' % (job['last_run'], job['last_status'], short(job['last_msg'], 300)))
    try:
        # A run that started at the due time may still be going: allow it its timeout.
        due = previous_run(job['schedule'], now - timeout - 120)
    except ValueError as exc:
        return problems + ['cannot read its schedule: %s' % exc]
    job['due'] = iso(due) if due is not None else None
    last = parse_ts(job['last_run'])
    if job['log_file'] and last is None:
        if due is not None and installed is not None and due >= installed:
            problems.append('never ran, although a run was due at %s (%s)' % (iso(due), job['schedule']))
    elif last is not None and due is not None and last < due - 60:
        problems.append('last run %s is older than its schedule allows: a run was due at %s (%s)' % (
            job['last_run'], iso(due), job['schedule']))
    return problems


def cron_running():
    """Whether a cron daemon process runs on this host (TWZRD_CRON_DAEMONS: its process names)."""
    names = setting('TWZRD_CRON_DAEMONS', 'cron,crond').split(',')
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                with open('/proc/%s/comm' % pid) as handle:
                    if handle.read().strip() in names:
                        return True
            except OSError:
                continue
    return False


def installed_jobs(cron_file, config_dir, now):
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
        job = {'job': fields[-1], 'schedule': ' '.join(fields[:5]), 'user': fields[5], 'module': None,
               'log_file': None, 'last_run': None, 'last_status': None, 'last_msg': None, 'due': None,
               'problems': []}
        job_file = os.path.join(config_dir, job['job'] + '.json')
        timeout, installed = 3000.0, None
        try:
            job['module'], _args, timeout, job['log_file'] = read_job(job_file)  # what a run would read
            installed = os.stat(job_file).st_mtime
        except (OSError, ValueError) as exc:
            job['last_msg'] = 'cannot read the job file: %s' % exc
            job['problems'].append('cannot read its job file %s: %s' % (job_file, exc))
        line = last_line(job['log_file']) if job['log_file'] else None
        if line:
            fields = parse_logline(line)
            job.update(last_run=fields.get('ts'), last_status=fields.get('status'), last_msg=fields.get('msg'))
        elif job['log_file']:
            job['last_msg'] = 'never ran'
        job['problems'] += job_problems(job, now, timeout, installed)
        jobs.append(job)
    return jobs


def status(config_dir, cron_file, as_json):
    jobs = installed_jobs(cron_file, config_dir, time.time())
    if jobs is None:
        print('%s: not installed' % cron_file)
        return FAILED
    running = cron_running()
    problems = [] if running else [
        'the cron daemon is not running: no job runs (systemctl start cron; systemctl enable cron)']
    silences, silence_error = active_silences(config_dir)
    if as_json:
        # problem_lines: every problem once, "JOB: why", for playbooks/verify.yml to print as is.
        lines = ['cron: %s' % problem for problem in problems] + [
            '%s: %s' % (job['job'], problem) for job in jobs for problem in job['problems']]
        lines += [silence_error] if silence_error else []
        print(json.dumps({'cron_file': cron_file, 'cron_running': running, 'problems': problems, 'jobs': jobs,
                          'problem_lines': lines, 'silences': silences}, indent=2, sort_keys=True))
        return OK
    for job in jobs:
        print('%-10s %-13s %-8s %-16s last: %s %s' % (
            job['job'], job['schedule'], job['user'], job['module'],
            job['last_run'] or '-', job['last_status'] or '-'))
        # escape(): a log written before its names were escaped must not drive this terminal either
        print('%10s log %s: %s' % ('', job['log_file'], short(escape(job['last_msg'] or ''), 160)))
        for problem in job['problems']:
            print('%10s PROBLEM: %s' % ('', escape(problem)))
    for entry in silences:
        print(escape(silence_text(entry)))
    for problem in problems + ([silence_error] if silence_error else []):
        print('PROBLEM: %s' % problem)
    return OK


# --- silences (the accept mechanism with an expiry, kept on the host) ------------------------------

class SilenceError(ValueError):
    """Bad --silence input or an unusable silences file; the message names the parameter."""


def parse_duration(text):
    """``2h``, ``3d``, ``1h30m`` -> seconds (1 second .. 365 days)."""
    text = (text or '').strip().lower()
    if not DURATION_RE.match(text):
        raise SilenceError('--for: bad duration %r: a number and a unit (s, m, h, d, w), e.g. 2h, 3d, 1h30m' % text)
    seconds = sum(int(number) * UNITS[unit] for number, unit in re.findall(r'(\d+)([smhdw])', text))
    if not 0 < seconds <= MAX_SILENCE:
        raise SilenceError('--for: bad duration %r: between 1s and 365d' % text)
    return seconds


def parse_target(text):
    """``CHECK[:SUBJECT]`` -> (check, subject or None)."""
    check, colon, subject = (text or '').partition(':')
    if check not in KNOWN_CHECKS:
        raise SilenceError('CHECK: unknown check %s (one of: %s)' % (format_value(check), ', '.join(KNOWN_CHECKS)))
    if colon and (not subject or len(subject) > 300 or any(ord(c) < 32 or c in '\x7f\u2028\u2029\x85' for c in subject)):
        raise SilenceError('SUBJECT: give the subject after CHECK: as the alert names it (mount, table, app), one line')
    return check, (subject if colon and subject != '*' else None)


def silence_label(entry):
    return entry['check'] + (':%s' % entry['subject'] if entry.get('subject') else '')


def silence_text(entry):
    return 'silenced %-30s until %s by %s: %s (id %s)' % (
        silence_label(entry), iso(entry['until']), entry.get('by'), entry['reason'], entry['id'])


def read_silences(path):
    """Every silence in ``path`` (root-owned, not writable by others, never through a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SilenceError('cannot read %s: %s' % (path, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise SilenceError('%s is not a root-owned regular file writable by root alone: the jobs ignore it; '
                               'remove it and silence again' % path)
        raw = b''
        while len(raw) <= 1024 * 1024:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            raw += chunk
    finally:
        os.close(fd)
    try:
        data = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        raise SilenceError('%s is not valid JSON (%s): remove it and silence again' % (path, exc))
    entries = data.get('silences') if isinstance(data, dict) else None
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get('until'), (int, float))
            and isinstance(e.get('check'), str) and isinstance(e.get('id'), str) and isinstance(e.get('reason'), str)] \
        if isinstance(entries, list) else []


def write_silences(path, entries):
    """Atomically: a private temp file in the same directory, 0644, fsync, rename."""
    directory = os.path.dirname(path) or '.'
    temp = os.path.join(directory, '.%s.%d.tmp' % (os.path.basename(path), os.getpid()))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    renamed = False
    try:
        os.fchown(fd, 0, 0)
        os.fchmod(fd, 0o644)
        os.write(fd, (json.dumps({'version': 1, 'silences': entries}, indent=2, sort_keys=True) + '\n').encode('utf-8'))
        os.fsync(fd)
        os.rename(temp, path)
        renamed = True
    finally:
        os.close(fd)
        if not renamed:
            try:
                os.unlink(temp)
            except OSError:
                pass


def active_silences(config_dir):
    """(active silences, error text or None) for --status."""
    try:
        entries = read_silences(os.path.join(config_dir, SILENCES_FILE))
    except SilenceError as exc:
        return [], 'silences: %s' % exc
    now = time.time()
    return sorted((e for e in entries if e['until'] > now), key=lambda e: e['until']), None


def who():
    """The person behind the action: sudo's user when there is one, else the account."""
    try:
        account = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        account = str(os.getuid())
    sudo_user = os.environ.get('SUDO_USER')
    return sudo_user if sudo_user and sudo_user != account else account


def log_silence(action, entry, now):
    fields = [('ts', iso(now)), ('action', action), ('by', who()), ('uid', os.getuid()), ('id', entry['id']),
              ('check', entry['check']), ('subject', entry.get('subject') or '*'), ('until', iso(entry['until'])),
              ('reason', entry['reason'])]
    line = ' '.join('%s=%s' % (key, format_value(value)) for key, value in fields)
    path = setting('TWZRD_SILENCE_LOG', '/var/log/twzrd-silences.log')
    try:
        append_line(path, line)
    except OSError as exc:
        print('warning: could not log to %s: %s' % (path, exc))


def silence_command(config_dir, args):
    """--silence / --silences / --unsilence; exit 0, or 3 with an error naming the parameter."""
    path = os.path.join(config_dir, SILENCES_FILE)
    command, rest = args[0], args[1:]
    try:
        if command == '--silences':
            now = time.time()
            live = [e for e in read_silences(path) if e['until'] > now]
            for entry in sorted(live, key=lambda e: e['until']):
                print(silence_text(entry))
            if not live:
                print('no active silence')
            return OK
        if os.geteuid() != 0:
            raise SilenceError('%s must run as root: the jobs believe only a root-owned %s' % (command, path))
        lock = os.open(config_dir, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)   # one writer at a time
            now = time.time()
            entries = [e for e in read_silences(path) if e['until'] > now]   # expired ones are done with
            if command == '--silence':
                options = dict(zip(rest[1::2], rest[2::2])) if rest else {}
                if not rest or rest[0].startswith('-'):
                    raise SilenceError('usage: --silence CHECK[:SUBJECT] --for DURATION --reason TEXT')
                unknown = [key for key in options if key not in ('--for', '--reason')]
                if unknown or len(rest) % 2 != 1:
                    raise SilenceError('usage: --silence CHECK[:SUBJECT] --for DURATION --reason TEXT')
                check, subject = parse_target(rest[0])
                if '--for' not in options:
                    raise SilenceError('--for is required: how long, e.g. --for 2h')
                seconds = parse_duration(options['--for'])
                reason = ' '.join((options.get('--reason') or '').split())
                if not reason:
                    raise SilenceError('--reason is required: say why, it is shown with every silenced alert')
                entry = {'id': os.urandom(4).hex(), 'check': check, 'subject': subject, 'until': int(now + seconds),
                         'reason': reason[:500], 'by': who(), 'created': int(now)}
                entries = [e for e in entries if (e['check'], e.get('subject')) != (check, subject)] + [entry]
                write_silences(path, entries)
                log_silence('silence', entry, now)
                print(silence_text(entry))
                return OK
            if command == '--unsilence':
                if len(rest) != 1:
                    raise SilenceError('usage: --unsilence ID|CHECK[:SUBJECT]')
                gone = [e for e in entries if rest[0] in (e['id'], silence_label(e))]
                if not gone:
                    raise SilenceError('no silence %s (twzrd-run --silences lists them)' % format_value(rest[0]))
                write_silences(path, [e for e in entries if e not in gone])
                for entry in gone:
                    log_silence('unsilence', entry, now)
                    print('unsilenced %s (id %s)' % (silence_label(entry), entry['id']))
                return OK
        finally:
            os.close(lock)
    except (SilenceError, OSError) as exc:
        print('twzrd-run %s: FAILED: %s' % (command, exc))
        return FAILED
    return FAILED


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
    os.environ.setdefault('TWZRD_SILENCES_FILE', os.path.join(config_dir, SILENCES_FILE))
    if args[:1] in (['--silence'], ['--silences'], ['--unsilence']):
        return silence_command(config_dir, args)
    if args[:1] == ['--status']:
        return status(config_dir, setting('TWZRD_CRON_FILE', '/etc/cron.d/twzrd'), '--json' in args)
    if args[:1] == ['--test-notify']:
        if not all(JOB_RE.match(job) for job in args[1:]):
            sys.stderr.write('twzrd-run --test-notify: invalid job name\n')
            return FAILED
        return test_notify(config_dir, args[1:])
    if len(args) != 1 or args[0].startswith('-'):
        print('twzrd-run: FAILED: usage: twzrd-run [--config-dir DIR] [--lock FILE] JOB | --status [--json] | --test-notify [JOB...]'
              ' | --silence CHECK[:SUBJECT] --for DURATION --reason TEXT | --silences | --unsilence ID|CHECK[:SUBJECT]')
        return FAILED
    try:
        return run(args[0], config_dir, lock)
    except Exception as exc:  # pylint: disable=broad-except  # cron must see exit 3 and a FAILED line, never 1
        return fail(args[0], None, None, time.time(), 'twzrd-run error: %s: %s' % (type(exc).__name__, exc),
                    remediation_for('crash', args[0]), False)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
