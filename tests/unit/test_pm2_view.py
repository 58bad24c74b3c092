"""Several PM2 daemons in one run: names, restart counters per daemon, the alerts (recorded inputs, no PM2)."""
from ansible_collections.twzrd.ops.plugins.module_utils.runs import health
from ansible_collections.twzrd.ops.plugins.module_utils.host import evaluate as checks
from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import collect as pm2_view
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import Pm2Target
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host as host_checks, registry

PARAMS = {'pm2_expected_apps': [], 'crash_warning': 0, 'crash_critical': None}


def target(user, home, found_pid=None):
    return Pm2Target('/usr/bin/pm2', home, user, 1000, 1000, '/home/' + user, found_pid=found_pid)


def proc(name, pm_id, restart_time=0, status='online'):
    return {'name': name, 'pm_id': pm_id, 'pid': 100 + pm_id, 'status': status, 'exec_mode': 'fork',
            'restart_time': restart_time, 'unstable_restarts': 0, 'memory_bytes': 1, 'cpu_percent': 0}


def daemon(user, home, processes=(), running=True, error=None):
    return pm2_view.DaemonView(target(user, home, found_pid=1), running, processes, error=error)


def alerts_for(view, apps, pm2_state, **params):
    """The PM2 alerts of a run: presence (code) and crashes (a registry check)."""
    params = dict(PARAMS, **params)
    crashes = registry.evaluate([host_checks.PM2_CRASHES], {'pm2': {'apps': apps}}, params)[0]
    return health._pm2_alerts(params, view, apps, pm2_state) + crashes


def test_apps_are_named_by_owner_only_when_several_daemons_have_apps():
    view = pm2_view.Pm2View([daemon('root', '/root/.pm2', [proc('web', 0)]),
                             daemon('app', '/home/app/.pm2', [proc('api', 0)])], discovered=True)
    assert [(p['name'], p['app']) for p in view.processes] == [('app/api', 'api'), ('root/web', 'web')]
    # a stray `sudo pm2 ls` spawned an empty root daemon: the app names stay as they were
    view = pm2_view.Pm2View([daemon('root', '/root/.pm2'), daemon('app', '/home/app/.pm2', [proc('api', 0)])])
    assert [p['name'] for p in view.processes] == ['api']
    assert [d.label for d in view.daemons] == ['app', 'root']  # daemon-level alerts still say whose


def test_a_stray_empty_daemon_of_an_owner_renames_none_of_its_apps():
    """Two daemons run apps (root's and app's) and `sudo PM2_HOME=/tmp/x pm2 ls` spawned an empty root one:
    its alerts are root:/tmp/x's, but root's apps keep "root/web", or every crash alert of theirs would
    resolve and fire again under a new name."""
    view = pm2_view.Pm2View([daemon('root', '/root/.pm2', [proc('web', 0)]), daemon('root', '/tmp/x'),
                             daemon('app', '/home/app/.pm2', [proc('api', 0)])], discovered=True)
    assert [p['name'] for p in view.processes] == ['app/api', 'root/web']
    assert [d.label for d in view.daemons] == ['app', 'root:/root/.pm2', 'root:/tmp/x']


def test_a_daemon_that_does_not_answer_this_run_renames_none_of_the_others_apps(monkeypatch):
    """root's web crash-loops (an open alert on "root/web"); app's daemon times out on `pm2 jlist` for one
    run. Its apps ran at the last check: root's apps keep their names, or that run would resolve the alert
    on "root/web" and raise one on "web", and the next run the other way round."""
    state = {'daemons': {'/home/app/.pm2': {'user': 'app', 'restart_baseline': {'api#0': 0}},
                         '/root/.pm2': {'user': 'root', 'restart_baseline': {'web#0': 2}}}}
    root = daemon('root', '/root/.pm2', [proc('web', 0, restart_time=5)])
    for silent in (daemon('app', '/home/app/.pm2', error='pm2 jlist timed out after 10 s'),
                   daemon('app', '/home/app/.pm2', running=False)):
        monkeypatch.setattr(pm2_view, 'pm2_targets', lambda *args: ([root.target, silent.target], True))
        answers = {root.target.pm2_home: root, silent.target.pm2_home: silent}
        monkeypatch.setattr(pm2_view, 'collect_daemon', lambda t, timeout, now: answers[t.pm2_home])
        view = pm2_view.collect({'pm2_timeout': 10}, state, None, 0)
        assert [p['name'] for p in view.processes] == ['root/web']
        growth = pm2_view.restart_growth(view, state)[0]
        assert list(growth) == ['root/web#0']
    # a daemon that answers with no apps (they were deleted) is no reason to keep the prefix
    answers.update({'/root/.pm2': daemon('root', '/root/.pm2', [proc('web', 0, restart_time=5)]),
                    '/home/app/.pm2': daemon('app', '/home/app/.pm2')})
    assert [p['name'] for p in pm2_view.collect({'pm2_timeout': 10}, state, None, 0).processes] == ['web']


def test_one_user_with_two_homes_is_told_apart_by_home():
    view = pm2_view.Pm2View([daemon('app', '/home/app/.pm2', [proc('api', 0)]),
                             daemon('app', '/srv/pm2', [proc('api', 0)])])
    assert sorted(p['name'] for p in view.processes) == ['app:/home/app/.pm2/api', 'app:/srv/pm2/api']


def test_restart_counters_and_own_restarts_are_kept_per_daemon():
    state = {'daemons': {
        '/home/app/.pm2': {'user': 'app', 'restart_baseline': {'api#0': 5}, 'own_restarts': {'api#0': 1}},
        '/srv/pm2': {'user': 'web', 'restart_baseline': {'api#0': 2}, 'own_restarts': {}}}}
    view = pm2_view.Pm2View([daemon('app', '/home/app/.pm2', [proc('api', 0, restart_time=6)]),
                             daemon('web', '/srv/pm2', [proc('api', 0, restart_time=4)])])
    growth, baselines = pm2_view.restart_growth(view, state)
    assert growth == {'app/api#0': 0, 'web/api#0': 2}  # app's one restart was pm2_restart's own
    assert baselines == {'/home/app/.pm2': {'api#0': 6}, '/srv/pm2': {'api#0': 4}}
    pm2_view.save_state(state, view, baselines)
    assert state['daemons']['/home/app/.pm2'] == {'user': 'app', 'restart_baseline': {'api#0': 6},
                                                  'own_restarts': {}}


def test_the_maps_of_a_state_file_from_before_discovery_count_once_then_move():
    state = {'restart_baseline': {'web#0': 1}, 'own_restarts': {'web#0': 1}}
    view = pm2_view.Pm2View([daemon('app', '/home/app/.pm2', [proc('web', 0, restart_time=3)])])
    growth, baselines = pm2_view.restart_growth(view, state)
    assert growth == {'web#0': 1}
    pm2_view.save_state(state, view, baselines)
    assert state == {'daemons': {'/home/app/.pm2': {'user': 'app', 'restart_baseline': {'web#0': 3},
                                                    'own_restarts': {}}}}


def test_a_remembered_daemon_that_is_gone_is_critical_and_named():
    state = {'daemons': {'/home/app/.pm2': {'user': 'app', 'restart_baseline': {'api#0': 0, 'api#1': 0}}}}
    gone = daemon('app', '/home/app/.pm2', running=False)
    gone.ran_apps_last_check = True  # as collect() sets it from the state
    view = pm2_view.Pm2View([gone, daemon('root', '/root/.pm2', [proc('web', 0)])], discovered=True)
    apps = checks.summarize_apps(view.processes, {})
    assert sorted(apps) == ['root/web']  # named as at the last check, when both daemons answered
    [alert] = alerts_for(view, apps, state)
    assert (alert['check'], alert['subject'], alert['level']) == ('pm2_daemon', 'app', 'critical')
    assert alert['message'] == ('PM2 daemon of user app is not running (no live pid in /home/app/.pm2/pm2.pid) '
                                'but 1 app(s) were running at the last check: app/api')


def test_expected_apps_match_plain_or_owner_names_and_an_unreadable_daemon_claims_nothing():
    view = pm2_view.Pm2View([daemon('app', '/home/app/.pm2', [proc('api', 0)]),
                             daemon('root', '/root/.pm2', [proc('web', 0, status='errored')])])
    apps = checks.summarize_apps(view.processes, {})
    found = alerts_for(view, apps, {}, pm2_expected_apps=['api', 'root/web', 'root/api', 'worker'])
    assert [(a['check'], a['subject']) for a in found] == [
        ('pm2_missing_app', 'root/api'), ('pm2_missing_app', 'worker'), ('pm2_crashes', 'root/web')]
    crash = found[-1]
    assert 'pm2 logs web --err' in crash['remediation'] and 'root/web' in crash['message']

    view = pm2_view.Pm2View([daemon('app', '/home/app/.pm2', [proc('api', 0)]),
                             daemon('nobody', '/tmp/x', error='no pm2 executable was found: set pm2_bin')])
    apps = checks.summarize_apps(view.processes, {})
    found = alerts_for(view, apps, {}, pm2_expected_apps=['worker'])
    assert [(a['check'], a['subject']) for a in found] == [('pm2_query', 'nobody')]


def test_targets_are_the_configured_one_or_those_found_plus_those_remembered(monkeypatch):
    configured = target('root', '/root/.pm2')
    params = {'pm2_home': None, 'pm2_user': None, 'pm2_bin': None}
    monkeypatch.delenv('PM2_HOME', raising=False)
    running = target('app', '/home/app/.pm2', found_pid=7)
    monkeypatch.setattr(pm2_view, 'discover_targets', lambda pm2_bin=None: [running])
    seen = {'restart_baseline': {'api#0': 0}}
    state = {'daemons': {
        '/home/app/.pm2': dict(seen, user='app'),   # running now: found, not added twice
        '/srv/gone': dict(seen, user='root'),       # ran apps, gone now: checked, so missed
        '/srv/empty': {'user': 'root', 'restart_baseline': {}},  # never ran an app: forgotten
        'relative/home': dict(seen, user='root'),   # hand-edited junk is skipped, never a traceback
        '/srv/nul\x00': dict(seen, user='root'),
        '/srv/nouser': dict(seen, user='no-such-user-xyz'),
        '/srv/baduser': dict(seen, user='bad\x00user'),
    }}
    targets, discovered = pm2_view.pm2_targets(params, state, configured)
    assert discovered and [(t.pm2_home, t.user, t.found_pid) for t in targets] == [
        ('/home/app/.pm2', 'app', 7), ('/srv/gone', 'root', None)]
    assert pm2_view.pm2_targets(dict(params, pm2_user='app'), state, configured) == ([configured], False)
    monkeypatch.setattr(pm2_view, 'discover_targets', lambda pm2_bin=None: [])
    assert pm2_view.pm2_targets(params, {}, configured) == ([configured], True)
