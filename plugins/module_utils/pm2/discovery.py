# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find the PM2 daemons running on this host when nobody said where PM2 is.

A PM2 that runs as the app user must never look "not installed" to a job
that runs as root.  We read only what /proc shows to everyone about a
process: its title (``PM2 vX: God Daemon (PM2_HOME)``), its owner and, for
a title cut short, the unix sockets PM2 listens on (``/proc/net/unix``).
Never its environment: that holds the app secrets.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import pwd

from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import (
    Pm2Error, Pm2HomeUnreadable, Pm2Target, find_pm2_bin, god_daemon_title, home_owner, pid_file_pid, told_where)
from ansible_collections.twzrd.ops.plugins.module_utils.core.owned_files import user_name

PM2_SOCKETS = ('rpc.sock', 'pub.sock')


class FoundDaemon:
    """One God daemon seen in /proc."""

    def __init__(self, pid, uid, shown_home, whole, exe):
        self.pid = pid
        self.uid = uid
        self.shown_home = shown_home  # possibly cut short
        self.whole = whole
        self.exe = exe  # the node binary, when /proc lets us see it


def _read(path, mode='rb'):
    with open(path, mode) as handle:
        return handle.read()


def _owner_and_parent(status_text):
    """``(real uid, parent pid)`` from /proc/PID/status; uid None for a process in a container.

    ``NSpid`` lists one pid per pid namespace from ours down: more than one
    means the daemon runs in a container, whose PM2 (its pids, its paths) is
    the container's business, not this host's.
    """
    fields = dict(line.split(':', 1) for line in status_text.splitlines() if ':' in line)
    ppid = int(fields.get('PPid', '0').strip() or 0)
    if len(fields.get('NSpid', '').split()) > 1:
        return None, ppid
    uid = fields.get('Uid', '').split()
    return (int(uid[0]) if uid else None), ppid


def scan_god_daemons(proc_root='/proc'):
    """Every PM2 God daemon in ``proc_root``, by pid.

    PM2 starts (and restarts) each app with fork() then exec(): in between, the
    child still shows its daemon's title, and with an app ``uid`` already the
    app user's uid.  A process titled as the very daemon that is its parent is
    that moment, not a second daemon.
    """
    found, parents = [], {}
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        base = os.path.join(proc_root, entry)
        try:
            title = god_daemon_title(_read(os.path.join(base, 'cmdline')))
            if title is None:
                continue
            uid, parents[int(entry)] = _owner_and_parent(_read(os.path.join(base, 'status'), 'r'))
        except (IOError, OSError, ValueError):  # gone meanwhile, or hidden (hidepid)
            continue
        if uid is None:  # in a container
            continue
        try:
            exe = os.readlink(os.path.join(base, 'exe'))
        except OSError:  # another user's process when we are not root
            exe = None
        found.append(FoundDaemon(int(entry), uid, title[0], title[1], exe))
    titles = dict((d.pid, (d.shown_home, d.whole)) for d in found)
    return sorted((d for d in found if titles.get(parents[d.pid]) != (d.shown_home, d.whole)),
                  key=lambda d: d.pid)


def socket_dirs(net_unix='/proc/net/unix'):
    """Directories holding a listening PM2 socket (full paths, unlike a cut-short title)."""
    dirs = set()
    try:
        text = _read(net_unix, 'r')
    except (IOError, OSError):
        return dirs
    for line in text.splitlines()[1:]:
        fields = line.split(None, 7)
        if len(fields) == 8 and os.path.basename(fields[7]) in PM2_SOCKETS:
            dirs.add(os.path.dirname(fields[7]))
    return dirs


def _pid_in(home, pid):
    """True/False: ``home``/pm2.pid names ``pid``; None when we may not read it."""
    try:
        return pid_file_pid(home) == pid
    except Pm2HomeUnreadable:
        return None


def daemon_home(daemon, owner_home, pm2_socket_dirs):
    """The full PM2_HOME of ``daemon``, or None when it cannot be told from what we may read."""
    candidates = ([daemon.shown_home] if daemon.whole else []) + [os.path.join(owner_home, '.pm2')]
    candidates += sorted(pm2_socket_dirs)
    unreadable = []
    for home in candidates:
        if not home.startswith(daemon.shown_home) or (daemon.whole and home != daemon.shown_home):
            continue
        named = _pid_in(home, daemon.pid)
        if named:
            return home
        if named is None:
            unreadable.append(home)
    # Its pid file is private to its owner: a whole title (or a single match) still says where it lives.
    return unreadable[0] if len(unreadable) == 1 else None


def _pm2_bin_for(daemon, pm2_bin):
    """pm2 next to the daemon's node (nvm and similar installs) before PATH and the usual places."""
    if pm2_bin:
        return find_pm2_bin(pm2_bin)
    if daemon.exe:
        beside = os.path.join(os.path.dirname(daemon.exe), 'pm2')
        if os.path.isfile(beside) and os.access(beside, os.X_OK):
            return beside
    return find_pm2_bin()


def discover_targets(pm2_bin=None, proc_root='/proc'):
    """A :class:`Pm2Target` per PM2 daemon running here (may be empty).

    A daemon whose home or binary cannot be found is still returned, with
    ``problem`` saying what to set, so it is reported and never taken for absent.
    """
    daemons = scan_god_daemons(proc_root)
    dirs = socket_dirs(os.path.join(proc_root, 'net', 'unix')) if daemons else set()
    targets = []
    for daemon in daemons:
        try:
            owner = pwd.getpwuid(daemon.uid)
            user, gid, owner_home = owner.pw_name, owner.pw_gid, owner.pw_dir
        except KeyError:
            user, gid, owner_home = str(daemon.uid), daemon.uid, '/'
        home = daemon_home(daemon, owner_home, dirs)
        binary = _pm2_bin_for(daemon, pm2_bin)
        problem, claimed = None, None
        if home is None:
            problem = ('PM2 daemon pid %d runs as user %s but its PM2_HOME (%s...) cannot be read: '
                       'set pm2_user and pm2_home' % (daemon.pid, user, daemon.shown_home))
            home = daemon.shown_home
        elif home_owner(home) not in (None, daemon.uid):  # a pid is evidence only with its owner
            claimed = 'pid %d of user %s' % (daemon.pid, user)
            problem = ("PM2 daemon pid %d runs as user %s but its PM2_HOME %s is owned by user %s: not queried "
                       "(another user's process titled as that daemon, or a home that changed hands; "
                       "if it is that user's PM2, set pm2_user and pm2_home)"
                       % (daemon.pid, user, home, user_name(home_owner(home))))
        elif binary is None:
            problem = ('PM2 daemon pid %d runs as user %s (PM2_HOME %s) but no pm2 executable was found: '
                       'set pm2_bin' % (daemon.pid, user, home))
        target = Pm2Target(binary, home, user, daemon.uid, gid, owner_home, found_pid=daemon.pid, problem=problem)
        target.impostor = claimed
        targets.append(target)
    return targets


def remembered_target(pm2_home, user, pm2_bin=None):
    """A daemon seen by an earlier run and not running now, so its absence is noticed; None if its user is gone."""
    if not os.path.isabs(pm2_home) or '\x00' in pm2_home:  # a hand-edited state file
        return None
    try:
        owner = pwd.getpwnam(user)
    except (KeyError, ValueError):
        return None
    return Pm2Target(find_pm2_bin(pm2_bin), pm2_home, owner.pw_name, owner.pw_uid, owner.pw_gid, owner.pw_dir)


def single_target(configured, pm2_bin=None, pm2_home=None, pm2_user=None):
    """The one daemon a restart acts on: ``configured`` when the person said which, else the only one running.

    Several daemons and nothing configured is a question for a person, not a
    guess: raises Pm2Error naming the options and the daemons found.
    """
    if told_where(pm2_home, pm2_user):
        return configured
    found = discover_targets(pm2_bin)
    if len(found) > 1:
        raise Pm2Error('%d PM2 daemons run on this host (%s): set pm2_user or pm2_home to say which one to act on'
                       % (len(found), ', '.join('user %s, PM2_HOME %s' % (t.user, t.pm2_home) for t in found)))
    if found and found[0].problem:
        raise Pm2Error(found[0].problem)
    return found[0] if found else configured
