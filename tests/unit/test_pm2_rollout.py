"""pm2_rollout: planning (pure) and the sequencing of execute() against a scripted fake PM2."""

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.pm2 import rollout as ro
from ansible_collections.twzrd.ops.plugins.module_utils.logs.collect import DEFAULT_ERROR_PATTERNS, compile_patterns
from ansible_collections.twzrd.ops.plugins.module_utils.pm2.client import Pm2Error


def proc(name, pm_id, pid, status='online', exec_mode='fork', restart_time=0, started_at=1000, error_log=None):
    return {'name': name, 'pm_id': pm_id, 'pid': pid, 'status': status, 'exec_mode': exec_mode,
            'restart_time': restart_time, 'started_at': started_at,
            'error_log': error_log or '/logs/%s-error-%s.log' % (name, pm_id)}


def by_name(procs):
    out = {}
    for p in procs:
        out.setdefault(p['name'], []).append(p)
    return out


FLEET = [proc('api', 0, 100, exec_mode='cluster'), proc('api', 1, 101, exec_mode='cluster'),
         proc('worker', 2, 200), proc('web', 3, 300)]


# --- planning ------------------------------------------------------------------

def test_plan_all_apps_by_lowest_pm_id_with_auto_strategy():
    plan, errors = ro.plan_rollout(by_name(FLEET), [], 'auto', {})
    assert errors == []
    assert [(p['app'], p['strategy'], p['instances'], p['pids']) for p in plan] == [
        ('api', 'reload', 2, [100, 101]), ('worker', 'restart', 1, [200]), ('web', 'restart', 1, [300])]


def test_plan_keeps_given_order_drops_duplicates_and_forced_strategy():
    plan, errors = ro.plan_rollout(by_name(FLEET), ['web', 'api', 'web'], 'restart', {})
    assert errors == []
    assert [(p['app'], p['strategy']) for p in plan] == [('web', 'restart'), ('api', 'restart')]


def test_plan_unknown_app_is_an_error_and_no_plan():
    plan, errors = ro.plan_rollout(by_name(FLEET), ['api', 'nope'], 'auto', {})
    assert plan == []
    assert errors and 'nope' in errors[0] and 'known: api, web, worker' in errors[0]


def test_plan_rejects_names_pm2_reads_as_ids_and_stray_health_checks():
    fleet = FLEET + [proc('7', 4, 400)]
    plan, errors = ro.plan_rollout(by_name(fleet), ['7'], 'auto', {'ghost': {'url': 'http://127.0.0.1/'}})
    assert plan == []
    assert any('7' in e and 'pm_id' in e for e in errors)
    assert any('ghost' in e for e in errors)


@pytest.mark.parametrize('name', ['all', '7', ' 7', '1e3', '0x1f', 'Infinity', '/', '/api/', '/.*/', '-', '--watch',
                                  'ecosystem.json', 'apps.yml', 'apps.yaml', 'web.config.js', 'web.config.cjs'])
def test_names_pm2_reads_as_something_else_are_refused(name):
    """pm2 restart NAME would act on all apps, a pm_id, a regex match, a config file, stdin or an option."""
    assert ro.pm2_reads_otherwise(name)
    plan, errors = ro.plan_rollout(by_name(FLEET + [proc(name, 4, 400)]), [], 'auto', {})
    assert plan == [] and any(name in e and 'cannot be restarted by name' in e for e in errors)


@pytest.mark.parametrize('name', ['api', 'my-api', 'api2', '2api', 'v1.2', 'web.js', '/srv/api', 'a/b/', 'api-'])
def test_plain_names_are_restarted_by_name(name):
    assert not ro.pm2_reads_otherwise(name)


def test_plan_redacts_credentials_in_health_url():
    checks, errors = ro.normalize_health_checks({'api': 'http://user:hunter2secret@127.0.0.1:3000/health'})
    plan = ro.plan_rollout(by_name(FLEET), ['api'], 'auto', checks)[0]
    assert errors == [] and 'hunter2secret' not in plan[0]['health_url']


def test_normalize_health_checks_defaults_and_errors():
    checks, errors = ro.normalize_health_checks({'api': {'url': 'http://127.0.0.1:3000/health', 'status': 204}})
    assert errors == []
    assert checks['api'] == {'url': 'http://127.0.0.1:3000/health', 'status': 204, 'timeout': 5.0,
                             'retries': 3, 'backoff': 1.0}
    errors = ro.normalize_health_checks({
        'a': {'url': 'ftp://x'}, 'b': {'url': 'http://h/', 'status': 42},
        'c': {'url': 'http://h/', 'colour': 'red'}, 'd': 5, 'e': {'url': 'http://h/', 'timeout': 0}})[1]
    text = ' | '.join(errors)
    for fragment in ('health_checks[a]', 'health_checks[b]: status', 'health_checks[c]: unknown keys colour',
                     'health_checks[d]', 'health_checks[e]: timeout'):
        assert fragment in text
    assert ro.normalize_health_checks(['x'])[1]


# --- readiness and counting ------------------------------------------------------

BEFORE = [proc('api', 0, 100, restart_time=3), proc('api', 1, 101, restart_time=5)]


@pytest.mark.parametrize('now, state, fragment', [
    ([proc('api', 0, 110, started_at=2000), proc('api', 1, 111, started_at=2000)], 'ready', 'all 2 instances'),
    ([proc('api', 0, 110, started_at=2000)], 'waiting', 'instance 1 is gone'),
    ([proc('api', 0, 110, started_at=2000), proc('api', 1, 101, started_at=2000)], 'waiting', 'old pid 101'),
    ([proc('api', 0, 110, started_at=2000), proc('api', 1, 111, status='launching')], 'waiting', 'is launching'),
    ([proc('api', 0, 110, started_at=2000), proc('api', 1, 111, started_at=1500)], 'waiting', 'started before'),
    ([proc('api', 0, 0, status='errored'), proc('api', 1, 111, started_at=2000)], 'errored', 'errored'),
])
def test_instances_state(now, state, fragment):
    got, reason = ro.instances_state(BEFORE, now, started_epoch=1999.5)
    assert got == state and fragment in reason


def test_count_own_restarts_measures_growth_per_instance_capped_at_one():
    after = [proc('api', 0, 110, restart_time=4), proc('api', 1, 111, restart_time=8)]
    assert ro.count_own_restarts(BEFORE, after) == {'api#0': 1, 'api#1': 1}
    # an instance pm2 did not restart is not counted
    assert ro.count_own_restarts(BEFORE, [proc('api', 0, 100, restart_time=3)]) == {}


# --- execute against a fake PM2 ---------------------------------------------------

class FakeOps:
    """A scripted PM2: behaviour per app decides what happens after its restart."""

    def __init__(self, fleet, behaviour, probes=None, log_lines=None):
        self.procs = [dict(p) for p in fleet]
        self.behaviour = behaviour
        self.probes = probes or {}
        self.log_lines = log_lines or {}
        self.now = 0.0
        self.restarted = []
        self.secrets = {'hunter2secret'}
        self.next_pid = 1000
        self.current_app = None

    def clock(self):
        return self.now

    def wall(self):
        return 5000.0 + self.now

    def sleep(self, seconds):
        self.now += seconds

    def processes(self, app):
        self.now += 0.1
        if self.behaviour.get(app) == 'flapping':  # a new pid every poll: never stable
            for p in self.procs:
                if p['name'] == app:
                    self.next_pid += 1
                    p['pid'] = self.next_pid
        return [dict(p) for p in self.procs if p['name'] == app]

    def restart(self, app, strategy, before):
        self.current_app = app
        self.restarted.append((app, strategy))
        if self.behaviour.get(app) == 'pm2-refuses':
            raise Pm2Error('pm2 reload %s exited with 1' % app)
        if self.behaviour.get(app) == 'cut-short':  # the CLI ended after the daemon restarted the first instance
            first = min(p['pm_id'] for p in self.procs if p['name'] == app)
            for p in self.procs:
                if p['pm_id'] == first:
                    self.next_pid += 1
                    p.update(pid=self.next_pid, restart_time=p['restart_time'] + 1)
            after = [dict(p) for p in self.procs if p['name'] == app]
            raise ro.CommandCutShort(Pm2Error('pm2 reload %s did not answer within 1 s' % app), after,
                                     ro.count_own_restarts(before, after))
        for p in self.procs:
            if p['name'] == app:
                self.next_pid += 1
                p.update(pid=self.next_pid, restart_time=p['restart_time'] + 1, started_at=int(self.wall()) + 1)
                if self.behaviour.get(app) == 'errored':
                    p.update(status='errored', pid=0)
                if self.behaviour.get(app) == 'never':
                    p.update(status='launching')
        after = [dict(p) for p in self.procs if p['name'] == app]
        return after, ro.count_own_restarts(before, after)

    def probe(self, check):
        return self.probes.get(self.current_app, {'ok': True, 'status': 200, 'attempts': 1, 'error': None, 'body': 'ok'})

    def mark_logs(self, paths):
        return dict((p, 0) for p in paths)

    def new_log_lines(self, offsets):
        return self.log_lines.get(self.current_app, [])


OPTIONS = {'online_timeout': 5, 'stable_seconds': 0.5, 'poll_interval': 0.2, 'settle_seconds': 1,
           'health_checks': {}, 'error_patterns': compile_patterns(DEFAULT_ERROR_PATTERNS)}


def run(behaviour=None, probes=None, log_lines=None, checks=None):
    ops = FakeOps(FLEET, behaviour or {}, probes, log_lines)
    plan, errors = ro.plan_rollout(by_name(FLEET), ['api', 'worker', 'web'], 'auto', checks or {})
    assert errors == []
    options = dict(OPTIONS, health_checks=checks or {})
    return ops, ro.execute(plan, ops, options)


def test_execute_all_healthy():
    ops, out = run()
    assert out['failure'] is None and out['untouched'] == []
    assert [r['app'] for r in out['restarted']] == ['api', 'worker', 'web']
    assert ops.restarted == [('api', 'reload'), ('worker', 'restart'), ('web', 'restart')]
    assert out['own_restarts'] == {'api#0': 1, 'api#1': 1, 'worker#2': 1, 'web#3': 1}
    api = out['restarted'][0]
    assert api['old_pids'] == [100, 101] and len(api['new_pids']) == 2 and not set(api['new_pids']) & {100, 101}
    assert api['seconds_to_healthy'] >= OPTIONS['stable_seconds']


@pytest.mark.parametrize('behaviour, step', [
    ('pm2-refuses', 'restart'), ('errored', 'online'), ('never', 'online'), ('flapping', 'online')])
def test_execute_stops_at_first_failure(behaviour, step):
    ops, out = run({'worker': behaviour})
    failure = out['failure']
    assert (failure['app'], failure['step']) == ('worker', step)
    assert [r['app'] for r in out['restarted']] == ['api']
    assert out['untouched'] == ['web']
    assert ('web', 'restart') not in ops.restarted
    if step != 'restart':
        assert out['own_restarts']['worker#2'] == 1  # the failed app's restart is still ours
    if behaviour == 'never':
        assert ops.now >= OPTIONS['online_timeout']


def test_execute_command_cut_short_reports_and_keeps_the_restarts_it_made():
    plan, errors = ro.plan_rollout(by_name(FLEET), ['api', 'web'], 'auto', {})
    ops = FakeOps(FLEET, {'api': 'cut-short'})
    out = ro.execute(plan, ops, OPTIONS)
    failure = out['failure']
    assert (failure['app'], failure['step']) == ('api', 'restart')
    assert 'cut short' in failure['message'] and '1 of its 2 instances (api#0)' in failure['message']
    assert failure['restart_counts'] == out['own_restarts'] == {'api#0': 1}
    assert out['untouched'] == ['web'] and ops.restarted == [('api', 'reload')]


def test_execute_leaves_an_app_deleted_since_the_plan_alone():
    plan, errors = ro.plan_rollout(by_name(FLEET), ['worker', 'web'], 'auto', {})
    ops = FakeOps([p for p in FLEET if p['name'] != 'worker'], {})
    out = ro.execute(plan, ops, OPTIONS)
    assert out['failure'] is None and ops.restarted == [('web', 'restart')]
    assert [s['app'] for s in out['skipped']] == ['worker'] and 'deleted' in out['skipped'][0]['reason']


def test_execute_health_failure_carries_evidence():
    checks = ro.normalize_health_checks({'worker': 'http://127.0.0.1:9/health'})[0]
    probes = {'worker': {'ok': False, 'status': 500, 'attempts': 4, 'error': 'HTTP 500, expected 200',
                         'body': 'db password=hunter2secret down'}}
    out = run(probes=probes, checks=checks)[1]
    failure = out['failure']
    assert (failure['app'], failure['step']) == ('worker', 'health')
    assert failure['evidence']['status'] == 500 and failure['evidence']['attempts'] == 4
    assert 'hunter2secret' not in repr(out)


def test_execute_new_error_lines_fail_with_redacted_excerpts():
    lines = {'web': ['listening', 'Error: connect ECONNREFUSED token=abcdef123456', 'TypeError: x is undefined']}
    out = run(log_lines=lines)[1]
    failure = out['failure']
    assert (failure['app'], failure['step']) == ('web', 'errors')
    assert failure['evidence']['error_line_count'] == 2
    assert 'abcdef123456' not in repr(failure) and 'TypeError' in failure['evidence']['error_lines'][1]
    assert out['untouched'] == []


def test_default_patterns_ignore_plain_lines():
    patterns = compile_patterns(DEFAULT_ERROR_PATTERNS)
    assert not patterns.search('listening on 127.0.0.1:3000')
    for line in ('TypeError: x is undefined', 'Error: connect ECONNREFUSED', 'FATAL boom',
                 '[UnhandledPromiseRejection: reason]', 'Traceback (most recent call last):'):
        assert patterns.search(line), line
