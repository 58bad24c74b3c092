# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PM2 daemons one twzrd_health run checks, and what the state file remembers of each.

Which daemons: the one configured (pm2_user/pm2_home), else those running on
the host (pm2/discovery.py) plus those an earlier run found and that are gone
now.  Each is collected as its owner (pm2/client.py); with several, app names are
"owner/app".  Restart counters are kept per daemon (section 'pm2', 'daemons').
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as checks
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import (
    LEGACY_KEYS, Pm2Error, Pm2HomeUnreadable, daemon_entry, daemon_pid, process_key, snapshot, told_where)
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.discovery import discover_targets, remembered_target


class DaemonView:
    """One PM2 daemon as the checks see it: running?, processes (safe fields), error."""

    def __init__(self, target, running=False, processes=(), secrets=(), error=None):
        self.target = target
        self.running = running
        self.processes = list(processes)
        self.secrets = set(secrets)
        self.error = error
        self.label = ''  # set when several daemons are checked: the subject of its daemon-level alerts
        self.prefix = ''  # set when several daemons have apps: they are named "prefix/app"
        self.ran_apps_last_check = False  # set from the state file by collect()

    @property
    def has_apps(self):
        """Runs apps now, or did not answer this run and ran apps at the last check."""
        return bool(self.processes) or (self.ran_apps_last_check and (bool(self.error) or not self.running))

    def qualified(self, name):
        return '%s/%s' % (self.prefix, name) if self.prefix else name

    def metrics(self):
        return {'user': self.target.user, 'pm2_home': self.target.pm2_home, 'pid': self.target.found_pid,
                'daemon_running': self.running, 'error': self.error, 'impostor': self.target.impostor,
                'apps': len(set(p['name'] for p in self.processes))}


def _labels(daemons):
    """The owner's name, or owner:PM2_HOME when one user runs several daemons."""
    users = [d.target.user for d in daemons]
    return [d.target.user if users.count(d.target.user) == 1 else '%s:%s' % (d.target.user, d.target.pm2_home)
            for d in daemons]


class Pm2View:
    """Every PM2 daemon this run checks: the configured one, or those found running (``discovered``)."""

    def __init__(self, daemons, discovered=False):
        self.daemons = sorted(daemons, key=lambda d: (d.target.user, d.target.pm2_home))
        self.discovered = discovered
        if len(self.daemons) > 1:
            for daemon, label in zip(self.daemons, _labels(self.daemons)):
                daemon.label = label
        # App names are alert subjects: neither an empty daemon (a stray `pm2 ls` as root spawns one) nor
        # one that does not answer for a run renames any, or their alerts would resolve and fire again.
        with_apps = [d for d in self.daemons if d.has_apps]
        if len(with_apps) > 1:
            for daemon, prefix in zip(with_apps, _labels(with_apps)):
                daemon.prefix = prefix

    @property
    def processes(self):
        """All processes, named "owner/app" when several daemons have apps."""
        return [dict(p, name=d.qualified(p['name']), app=p['name']) if d.prefix else p
                for d in self.daemons for p in d.processes]

    @property
    def secrets(self):
        return set().union(*[d.secrets for d in self.daemons]) if self.daemons else set()

    @property
    def daemon_running(self):
        return bool(self.daemons) and all(d.running for d in self.daemons)

    @property
    def error(self):
        errors = [d.error for d in self.daemons if d.error]
        return '; '.join(errors) if errors else None

    @property
    def installed(self):
        return any(d.target.pm2_bin is not None or d.running for d in self.daemons)

    def metrics(self, apps):
        return {
            'installed': self.installed,
            'pm2_home': ', '.join(d.target.pm2_home for d in self.daemons),
            'user': ', '.join(d.target.user for d in self.daemons),
            'daemon_running': self.daemon_running,
            'error': self.error,
            'discovered': self.discovered,
            'daemons': [d.metrics() for d in self.daemons],
            'apps': apps,
        }


def daemons_with_apps_last_check(pm2_state):
    """``{PM2_HOME: state entry}`` of the daemons whose last good check saw apps (a restart baseline)."""
    return dict((home, entry) for home, entry in (pm2_state.get('daemons') or {}).items()
                if isinstance(entry, dict) and entry.get('restart_baseline') and entry.get('user'))


def pm2_targets(params, pm2_state, configured):
    """``(targets, discovered)``: the ``configured`` target when the person said where PM2 is,
    else every daemon found running.

    A daemon found by an earlier run that ran apps and is gone now is checked
    too, so its absence is an alert; with nothing configured or found, the
    default (this user's ~/.pm2) answers "not installed" or "not running".
    A process that claims a remembered home but is not its owner's (another
    user's process titled as PM2's daemon) does not count: the remembered
    daemon is checked, and found gone, with the impostor named.
    """
    if told_where(params['pm2_home'], params['pm2_user']):
        return [configured], False
    recorded = daemons_with_apps_last_check(pm2_state)
    targets, impostors = [], {}
    for target in discover_targets(params['pm2_bin']):
        claimed = recorded.get(target.pm2_home)
        if claimed and target.user != claimed['user'] and not target.impostor:
            target.impostor = 'pid %d of user %s' % (target.found_pid, target.user)
            target.problem = ('PM2 daemon pid %d runs as user %s but PM2_HOME %s was user %s\'s at the last check: '
                              'not queried' % (target.found_pid, target.user, target.pm2_home, claimed['user']))
        if target.impostor and claimed:
            impostors[target.pm2_home] = target.impostor  # the remembered daemon stands for it below
        else:
            targets.append(target)
    found = set(t.pm2_home for t in targets)
    for home, entry in sorted(recorded.items()):
        if home not in found:
            remembered = remembered_target(home, entry['user'], params['pm2_bin'])
            if remembered is not None:
                remembered.impostor = impostors.get(home)
                targets.append(remembered)
    if not targets:
        return [configured], True
    return targets, True


def collect_daemon(target, timeout, now):
    if target.impostor and target.found_pid is None:  # its pid file names another user's process: it is gone
        return DaemonView(target, False)
    if target.problem:  # found running, but we cannot tell where it keeps its files or how to ask it
        return DaemonView(target, True, error=target.problem)
    try:
        snap = snapshot(target, timeout=timeout, now_ms=int(now * 1000))
    except Pm2HomeUnreadable as exc:  # running or not is unknown: say so, never "daemon dead"
        return DaemonView(target, target.found_pid is not None, error=str(exc))
    except Pm2Error as exc:
        try:
            running = daemon_pid(target.pm2_home) is not None
        except Pm2Error:
            running = target.found_pid is not None
        return DaemonView(target, running, error=str(exc))
    return DaemonView(target, snap.daemon_running, snap.processes, snap.secrets)


def collect(params, pm2_state, configured, now):
    """The :class:`Pm2View` of this run (``configured``: the target the module options name)."""
    targets, discovered = pm2_targets(params, pm2_state, configured)
    daemons = [collect_daemon(target, params['pm2_timeout'], now) for target in targets]
    with_apps = daemons_with_apps_last_check(pm2_state)
    for daemon in daemons:
        daemon.ran_apps_last_check = daemon.target.pm2_home in with_apps
    return Pm2View(daemons, discovered)


def daemon_state(pm2_state, view, daemon):
    """``(restart_baseline, own_restarts)`` of ``daemon`` from the last runs.

    The maps at the top of the section were written before discovery, for the
    one daemon there was: they count for a run that checks a single daemon.
    """
    entry = (pm2_state.get('daemons') or {}).get(daemon.target.pm2_home) or {}
    baseline = dict(entry.get('restart_baseline') or {})
    own = dict(entry.get('own_restarts') or {})
    if len(view.daemons) == 1:
        baseline = baseline or dict(pm2_state.get('restart_baseline') or {})
        for key, count in (pm2_state.get('own_restarts') or {}).items():
            own[key] = own.get(key, 0) + count
    return baseline, own


def restart_growth(view, pm2_state):
    """``(growth by qualified process key, {pm2_home: new baseline})`` across the daemons checked."""
    growth, baselines = {}, {}
    for daemon in view.daemons:
        baseline, own = daemon_state(pm2_state, view, daemon)
        grown, baselines[daemon.target.pm2_home] = checks.restart_growth(daemon.processes, baseline, own)
        for proc in daemon.processes:
            growth[daemon.qualified(process_key(proc))] = grown[process_key(proc)]
    return growth, baselines


def save_state(pm2_state, view, baselines):
    """Learn the new restart counters of every daemon that answered; a failed query or a dead
    daemon must not reset what we knew: the baseline also says which apps should be running."""
    for daemon in view.daemons:
        if daemon.running and not daemon.error:
            entry = daemon_entry(pm2_state, daemon.target)
            entry['restart_baseline'] = baselines[daemon.target.pm2_home]
            entry['own_restarts'] = {}
    if any(d.running and not d.error for d in view.daemons):
        for key in LEGACY_KEYS:  # now under the daemon they belonged to (with several, nobody can tell which)
            pm2_state.pop(key, None)


def apps_seen_last_time(pm2_state, view, daemon):
    """Names of the apps ``daemon`` ran at the previous alerts run (its last baseline)."""
    baseline = daemon_state(pm2_state, view, daemon)[0]
    return [daemon.qualified(key.rsplit('#', 1)[0]) for key in baseline]
