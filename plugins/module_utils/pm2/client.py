# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Talking to PM2 safely (docs/design.md, "PM2 facts").

* Never start a daemon: ``pm2 jlist`` (and even ``pm2 --version``) spawns
  one when none runs, so we look at ``$PM2_HOME/pm2.pid`` and ``kill -0``
  first and do not call pm2 at all when the daemon is down.
* Never leak secrets: ``pm2_env`` holds the whole environment of whoever
  ran ``pm2 start`` (copied both under ``env`` and flattened at the top
  level).  :func:`summarize_process` keeps a fixed list of fields; secret
  looking values are only kept aside to redact them from log excerpts.
* Run pm2 as its owner with its own ``PM2_HOME`` and a minimal environment.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import json
import os
import pwd
import re
import stat
import subprocess

from ansible_collections.twzrd.ops.plugins.module_utils.core.redact import looks_secret, url_credentials

FALLBACK_BIN_DIRS = ('/usr/local/bin', '/usr/bin', '/opt/pm2/bin')
ERRORED_STATES = ('errored', 'stopped')
# Environment keys whose values we redact from any log excerpt we return.
SECRET_KEY_RE = re.compile(r'(PASS|SECRET|TOKEN|KEY|AUTH|CREDENTIAL|DSN|DATABASE_URL|PRIVATE|COOKIE|SESSION)', re.I)
MIN_SECRET_LENGTH = 6
PID_MAX_LIMIT = 4194304  # the kernel's highest possible pid (2**22)


class Pm2Error(Exception):
    """pm2 could not be run or answered something we cannot read."""


class Pm2Target:
    """Where PM2 lives: the binary, its home and the user that owns it.

    ``found_pid`` is set for a daemon found running in /proc (discovery);
    ``problem`` says why such a daemon cannot be queried (then it is reported
    as running but unreadable, never as absent); ``impostor`` names another
    user's process that claims this daemon's home.
    """

    def __init__(self, pm2_bin, pm2_home, user, uid, gid, user_home, found_pid=None, problem=None):
        self.pm2_bin = pm2_bin
        self.pm2_home = pm2_home
        self.user = user
        self.uid = uid
        self.gid = gid
        self.user_home = user_home
        self.found_pid = found_pid
        self.problem = problem
        # Set when a process that does not count as this daemon claims its home (pm2/collect.py):
        # "pid N of user X", named in the daemon's alerts.
        self.impostor = None

    @property
    def pid_file(self):
        return os.path.join(self.pm2_home, 'pm2.pid')


def find_pm2_bin(pm2_bin=None, search_path=None):
    """The pm2 executable: the one given (must exist), else from PATH or usual places.

    Returns None when pm2 is simply not installed and none was asked for.
    Raises Pm2Error when an explicit ``pm2_bin`` is not an executable file.
    """
    if pm2_bin:
        if not (os.path.isfile(pm2_bin) and os.access(pm2_bin, os.X_OK)):
            raise Pm2Error('pm2_bin %s does not exist or is not executable' % pm2_bin)
        return pm2_bin
    dirs = (search_path if search_path is not None else os.environ.get('PATH', '')).split(os.pathsep)
    for directory in [d for d in dirs if d] + list(FALLBACK_BIN_DIRS):
        candidate = os.path.join(directory, 'pm2')
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def told_where(pm2_home=None, pm2_user=None):
    """Whether the person said which PM2 to check (an option or PM2_HOME in the environment)."""
    return bool(pm2_home or pm2_user or os.environ.get('PM2_HOME'))


def resolve_target(pm2_bin=None, pm2_home=None, pm2_user=None):
    """Work out binary, home and owner; raises Pm2Error naming the bad parameter."""
    if pm2_user:
        try:
            entry = pwd.getpwnam(pm2_user)
        except KeyError:
            raise Pm2Error('pm2_user %s does not exist on this host' % pm2_user)
    else:
        entry = pwd.getpwuid(os.getuid())
    if not pm2_home:
        if not pm2_user and os.environ.get('PM2_HOME'):
            pm2_home = os.environ['PM2_HOME']
        else:
            pm2_home = os.path.join(entry.pw_dir, '.pm2')
    return Pm2Target(find_pm2_bin(pm2_bin), pm2_home, entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


class Pm2HomeUnreadable(Pm2Error):
    """PM2_HOME or its pm2.pid cannot be read by this user: we cannot tell whether PM2 runs."""


def god_daemon_title(cmdline):
    """``(home shown, whole)`` when a /proc cmdline (bytes) is PM2's God daemon title, else None.

    The daemon sets its title to ``PM2 vX: God Daemon (PM2_HOME)``; node writes
    it over its argv area, so a long home shows cut short (``whole`` False).
    """
    if not cmdline.startswith(b'PM2 v'):  # every process of the host comes here: decode only PM2's
        return None
    text = cmdline.decode('utf-8', 'replace').rstrip('\x00')
    marker = ': God Daemon ('
    if marker not in text:
        return None
    shown = text.split(marker, 1)[1]
    whole = shown.endswith(')')
    return (shown[:-1] if whole else shown), whole


def _is_god_daemon(pid, pm2_home):
    """False when ``pid`` is alive but is not PM2's God daemon for ``pm2_home`` (the pid was reused).

    When /proc hides the command line (hidepid) we cannot tell and trust ``kill -0``.
    """
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            cmdline = handle.read()
    except (IOError, OSError):
        return True
    if not cmdline:
        return True
    title = god_daemon_title(cmdline)
    if title is None:
        return False
    shown = title[0]
    home = os.path.abspath(pm2_home)
    return bool(shown) and (home.startswith(shown) or os.path.realpath(home).startswith(shown))


def process_uid(pid, proc_root='/proc'):
    """The real uid of process ``pid``, or None when /proc does not show it (gone, or hidepid)."""
    try:
        with open(os.path.join(proc_root, str(pid), 'status')) as handle:
            for line in handle:
                if line.startswith('Uid:'):
                    return int(line.split()[1])
    except (IOError, OSError, ValueError, IndexError):
        pass
    return None


def home_owner(pm2_home):
    """The uid owning ``pm2_home``, or None when it cannot be looked at."""
    try:
        return os.stat(pm2_home).st_uid
    except (OSError, ValueError):
        return None


def owner_mismatch(pid, pm2_home):
    """``(process uid, home uid)`` when process ``pid`` and ``pm2_home`` belong to different users, else None.

    A pid is evidence only with its owner: another user's process may carry
    the dead daemon's pid and PM2's title (docs/design.md, "What root believes, and what people are told").
    """
    pid_uid, owner_uid = process_uid(pid), home_owner(pm2_home)
    if pid_uid is None or owner_uid is None or pid_uid == owner_uid:
        return None
    return pid_uid, owner_uid


def pid_file_pid(pm2_home):
    """The pid ``pm2_home``/pm2.pid names (alive or not), or None when it is missing or not a pid.

    Raises Pm2HomeUnreadable when the pid file exists but this user may not read it.
    """
    pid_file = os.path.join(pm2_home, 'pm2.pid')
    try:
        # The PM2 user's file: a FIFO there must not hang root (O_NONBLOCK, then regular files only),
        # nor a symlink send root reading elsewhere (PM2 writes a plain file).
        fd = os.open(pid_file, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            pid = int(os.read(fd, 64).strip())
        finally:
            os.close(fd)
    except (IOError, OSError) as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise Pm2HomeUnreadable('cannot read %s as user %s (%s): whether PM2 runs is unknown'
                                    % (pid_file, pwd.getpwuid(os.getuid()).pw_name, exc.strerror))
        return None
    except ValueError:
        return None
    return pid if 0 < pid <= PID_MAX_LIMIT else None  # the file is the PM2 user's: 4294967297 must not crash kill()


def daemon_pid(pm2_home):
    """PID of the running PM2 daemon for ``pm2_home``, or None if it is not running.

    A live pid titled as PM2's daemon counts only when its process belongs to
    the owner of ``pm2_home``.

    Raises Pm2HomeUnreadable when the pid file exists but this user may not read it.
    """
    pid = pid_file_pid(pm2_home)
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except OSError as exc:
        if exc.errno != errno.EPERM:  # EPERM: alive, owned by another user
            return None
    if not _is_god_daemon(pid, pm2_home) or owner_mismatch(pid, pm2_home):
        return None
    return pid


def _pm2_env(target):
    bin_dir = os.path.dirname(os.path.realpath(target.pm2_bin))
    link_dir = os.path.dirname(target.pm2_bin)
    path = os.pathsep.join([link_dir, bin_dir, '/usr/local/bin', '/usr/bin', '/bin'])
    return {
        'PATH': path,
        'HOME': target.user_home,
        'PM2_HOME': target.pm2_home,
        'LANG': 'C.UTF-8',
        'USER': target.user,
        'LOGNAME': target.user,
    }


def _as_owner(target):
    """preexec_fn that drops to the PM2 owner when we are someone else (root)."""
    if target.uid == os.getuid():
        return None

    def demote():
        os.initgroups(target.user, target.gid)
        os.setgid(target.gid)
        os.setuid(target.uid)
    return demote


def run_pm2(target, args, timeout=30):
    """Run ``pm2 ARGS`` as the owner; returns stdout. The daemon must already run."""
    if target.pm2_bin is None:
        raise Pm2Error('pm2 executable not found: set pm2_bin')
    if target.uid != os.getuid() and os.geteuid() != 0:
        raise Pm2Error('PM2 runs as user %s and this job runs as %s, which may not act as another user: '
                       'run the job as root or as %s' % (target.user, pwd.getpwuid(os.getuid()).pw_name, target.user))
    try:
        proc = subprocess.Popen(
            [target.pm2_bin] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=_pm2_env(target), cwd='/', preexec_fn=_as_owner(target), close_fds=True,
            # a session of its own: no controlling terminal of root's for the owner's process to type into
            start_new_session=True,
        )
    except OSError as exc:
        raise Pm2Error('cannot run %s: %s' % (target.pm2_bin, exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Pm2Error('pm2 %s did not answer within %s s' % (' '.join(args), timeout))
    if proc.returncode != 0:
        detail = err.decode('utf-8', 'replace').strip().splitlines()[-1:] or ['no output']
        raise Pm2Error('pm2 %s exited with %d: %s' % (' '.join(args), proc.returncode, detail[0][:300]))
    return out.decode('utf-8', 'replace')


def parse_jlist(text):
    """The process list from ``pm2 jlist`` output, tolerating banner lines before the JSON."""
    text = text.strip()
    candidates = [text] if text.startswith('[') else []
    # pm2 may print upgrade notices or a daemon banner first: the JSON is the last line starting with '['.
    candidates += [line for line in reversed(text.splitlines()) if line.startswith('[')]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, list):
            return data
    raise Pm2Error('pm2 jlist printed no process list (%d bytes of output)' % len(text))


def _number(value, default=0):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def summarize_process(raw, now_ms=None):
    """Only the fields we use, never the environment."""
    env = raw.get('pm2_env') or {}
    monit = raw.get('monit') or {}
    exec_mode = env.get('exec_mode') or 'fork_mode'
    uptime_ms = _number(env.get('pm_uptime'), None)
    summary = {
        'name': str(raw.get('name') or env.get('name') or ''),
        'pm_id': _number(raw.get('pm_id', env.get('pm_id')), -1),
        'pid': _number(raw.get('pid'), 0),
        'status': str(env.get('status') or 'unknown'),
        'exec_mode': 'cluster' if exec_mode.startswith('cluster') else 'fork',
        'restart_time': _number(env.get('restart_time')),
        'unstable_restarts': _number(env.get('unstable_restarts')),
        'started_at': int(uptime_ms // 1000) if uptime_ms else None,
        'memory_bytes': _number(monit.get('memory')),
        'cpu_percent': _number(monit.get('cpu')),
        'error_log': env.get('pm_err_log_path') if isinstance(env.get('pm_err_log_path'), str) else None,
        'out_log': env.get('pm_out_log_path') if isinstance(env.get('pm_out_log_path'), str) else None,
    }
    if now_ms is not None and uptime_ms and summary['status'] == 'online':
        summary['uptime_seconds'] = max(0, int((now_ms - uptime_ms) // 1000))
    return summary


def secret_values(raw_list):
    """Values of environment variables that look secret by name or by value, to redact from excerpts."""
    found = set()
    for raw in raw_list:
        env = (raw.get('pm2_env') or {}).get('env') or {}
        if not isinstance(env, dict):
            continue
        for key, value in env.items():
            if not isinstance(value, str):
                continue
            if len(value) >= MIN_SECRET_LENGTH and SECRET_KEY_RE.search(str(key)):
                found.add(value)
            elif looks_secret(value):  # STRIPE_SK=sk_live_...: the name says nothing, the value does
                found.add(value)
            found.update(url_credentials(value))
    return found


def group_by_name(processes):
    """``{app name: [its processes]}``: cluster apps have one process per instance."""
    apps = {}
    for proc in processes:
        apps.setdefault(proc['name'], []).append(proc)
    return apps


class Pm2Snapshot:
    """What PM2 looks like right now, already stripped of anything secret."""

    def __init__(self, target, daemon_pid, processes, secrets):
        self.target = target
        self.daemon_pid = daemon_pid
        self.processes = processes
        self.secrets = secrets

    @property
    def daemon_running(self):
        return self.daemon_pid is not None

    def by_name(self):
        return group_by_name(self.processes)


def snapshot(target, timeout=30, now_ms=None):
    """Read the process list if (and only if) the daemon already runs."""
    pid = daemon_pid(target.pm2_home)
    if pid is None:
        return Pm2Snapshot(target, None, [], set())
    raw_list = parse_jlist(run_pm2(target, ['jlist'], timeout=timeout))
    processes = [summarize_process(raw, now_ms) for raw in raw_list if isinstance(raw, dict)]
    processes.sort(key=lambda p: (p['name'], p['pm_id']))
    return Pm2Snapshot(target, pid, processes, secret_values(raw_list))


# --- restarts we made ourselves -------------------------------------------
# State section 'pm2' in the shared state file (module_utils/state/store.py):
#   daemons: {PM2_HOME: {
#       user:             the daemon's owner (so a daemon found once is checked
#                         again, and missed, when it is gone)
#       restart_baseline: {"<name>#<pm_id>": restart_time seen by the last alerts run}
#                         (owned by twzrd_health)
#       own_restarts:     {"<name>#<pm_id>": restarts pm2_restart made since then}
#                         (added to by pm2_restart, consumed by twzrd_health)}}
# Before discovery there was one daemon and the two maps sat at the top of
# the section; twzrd_health moves them under the daemon it checks.
STATE_SECTION = 'pm2'
LEGACY_KEYS = ('restart_baseline', 'own_restarts')


def process_key(proc):
    return '%s#%s' % (proc['name'], proc['pm_id'])


def daemon_entry(section, target):
    """The state entry of ``target``'s daemon in the 'pm2' section, created when missing."""
    daemons = section.setdefault('daemons', {})
    entry = daemons.setdefault(target.pm2_home, {})
    entry['user'] = target.user
    return entry


def record_own_restarts(store, counts, target):
    """Add ``{process_key: n}`` to the restarts this collection made in ``target`` (store is locked)."""
    own = daemon_entry(store.section(STATE_SECTION), target).setdefault('own_restarts', {})
    for key, count in counts.items():
        own[key] = int(own.get(key, 0)) + int(count)
