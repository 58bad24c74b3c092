"""A fleet end to end: module textfiles -> node_exporter -> Prometheus (shipped rules) -> Alertmanager
(shipped configuration) -> webhook and email, all real (Debian's prometheus 2.42 and
prometheus-alertmanager 0.25, tests/integration/fleet_harness.py).

Three simulated hosts run ``twzrd_health mode=alerts`` with their disk path on a tmpfs of their own
(90 % full: the default warning of the module and of TwzrdDiskUsedHigh alike). web3's last run was 3 h
ago (the module run with its clock 3 h back): its alerts job is stale. The shipped rules have no
``for:``, so they are used as they are; only Alertmanager's group_wait/group_interval are short (a
copy of the shipped file, receivers pointed at the test's webhook and SMTP servers).

A second test gives three hosts three disk thresholds (the defaults, ``disk_warning: 50``, tuned to 90/98):
Prometheus alone (no Alertmanager needed) must alert for exactly the host that alerts itself.
"""
import os
import time

import pytest

import fleet_harness
from fleet_harness import Alertmanager, FleetHost, Prometheus, alertmanager_test_config, finish, wait_until
from receivers import SMTP_USER, HttpReceiver, SmtpReceiver

HOSTS = ('web1', 'web2', 'web3')
QUIET_SYSTEM = {'load_warning': 1000, 'load_critical': 2000, 'swap_warning': 99.8, 'swap_critical': 99.9,
                'memory_warning': 99.8, 'memory_critical': 99.9}
THREE_HOURS = 3 * 3600
WARNING_FILL, CRITICAL_FILL, GOOD_FILL = 0.90, 0.97, 0.50
WEBHOOK_TOKEN = 'test-webhook-token'
SMTP_PASSWORD = 'test-smtp-password'
STEP = 30  # seconds any one step may take (scrape 1 s + evaluation 1 s + group_wait 3 s, and a module run)


@pytest.fixture
def fleet(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('needs root: each host run mounts its own tmpfs in a private mount namespace')
    try:
        fleet_harness.require(fleet_harness.PROMETHEUS, fleet_harness.ALERTMANAGER, fleet_harness.AMTOOL)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    started = []
    try:
        webhook = HttpReceiver().start()
        started.append(webhook)
        smtp = SmtpReceiver(SMTP_PASSWORD, exclude_auth=('LOGIN',)).start()
        started.append(smtp)
        secrets = tmp_path / 'secrets'
        secrets.mkdir(mode=0o700)
        (secrets / 'webhook_token').write_text(WEBHOOK_TOKEN + '\n')
        # Alertmanager 0.25 sends auth_password_file's bytes as they are: no newline (docs/prometheus.md)
        (secrets / 'smtp_password').write_text(SMTP_PASSWORD)
        hosts = {}
        for name in HOSTS:
            hosts[name] = FleetHost(name, tmp_path / 'hosts').start()
            started.append(hosts[name])
        config = alertmanager_test_config('http://127.0.0.1:%d/alertmanager' % webhook.port, smtp.port, secrets,
                                          smtp_user=SMTP_USER)
        alertmanager = Alertmanager(tmp_path / 'alertmanager', config)
        yield {'hosts': hosts, 'webhook': webhook, 'smtp': smtp, 'alertmanager': alertmanager,
               'start': lambda: _start_servers(tmp_path, hosts, alertmanager, started), 'data': tmp_path / 'data'}
    finally:
        for server in reversed(started):
            server.stop()


def _start_servers(tmp_path, hosts, alertmanager, started):
    started.append(alertmanager.start())
    prometheus = Prometheus(tmp_path / 'prometheus', dict((n, h.address) for n, h in hosts.items()),
                            alertmanager=alertmanager)
    started.append(prometheus.start())
    return prometheus


def notifications(webhook, alertname, receiver=None, since=0):
    """The webhook bodies of ``alertname``'s group (Alertmanager's payload), oldest first, from the
    ``since``-th body received."""
    return [b['json'] for b in list(webhook.bodies)[since:] if b['json']['groupLabels'].get('alertname') == alertname
            and (receiver is None or b['json']['receiver'] == receiver)]


def hosts_in(body, status='firing', **labels):
    return sorted(a['labels']['instance'] for a in body['alerts'] if a['status'] == status
                  and all(a['labels'].get(k) == v for k, v in labels.items()))


def resolved_hosts(bodies, **labels):
    return sorted(set(host for body in bodies for host in hosts_in(body, status='resolved', **labels)))


def disk_mails(smtp):
    return [(subject, body) for subject, body in smtp.texts() if 'TwzrdDiskUsedHigh' in subject]


def run_all(hosts, args, **runs):
    """Run the alerts job on the named hosts at once: ``web1={'disk_fill': 0.9, 'clock_offset': 0}``."""
    procs = [hosts[name].run_alerts(args, **options) for name, options in sorted(runs.items())]
    return dict(zip(sorted(runs), finish(*procs)))


def test_a_fleet_alerts_through_prometheus_and_alertmanager(fleet):
    began = time.monotonic()
    hosts, webhook, smtp, am = fleet['hosts'], fleet['webhook'], fleet['smtp'], fleet['alertmanager']
    data = fleet['data']
    data.mkdir()
    args = dict(QUIET_SYSTEM, pm2_bin='/bin/false', pm2_home=str(data.parent / 'no-pm2'), disk_paths=[str(data)])

    def disk(fill, offset=0):
        return {'disk_path': str(data), 'disk_fill': fill, 'clock_offset': offset}

    # Every host's job finds its disk 90 % full; web3's run was 3 hours ago and none since.
    results = run_all(hosts, args, web1=disk(WARNING_FILL), web2=disk(WARNING_FILL),
                      web3=disk(WARNING_FILL, THREE_HOURS))
    for name, result in results.items():
        assert result['status'] == 'warning', (name, result)
        assert [(a['check'], a['subject'], a['level']) for a in result['alerts']] == \
            [('disk', str(data), 'warning')], (name, result['alerts'])
    prometheus = fleet['start']()
    timings = {'servers up': time.monotonic() - began}

    # 1. The same disk warning on every host: ONE message naming all of them.
    first = wait_until(lambda: notifications(webhook, 'TwzrdDiskUsedHigh'), STEP, 'the disk warning notification')[0]
    assert first['receiver'] == 'chat' and first['status'] == 'firing'
    assert first['groupLabels'] == {'alertname': 'TwzrdDiskUsedHigh'}
    assert hosts_in(first, severity='warning', path=str(data)) == list(HOSTS), first['alerts']
    assert len(notifications(webhook, 'TwzrdDiskUsedHigh')) == 1
    # the bearer token came from credentials_file
    assert set(b['authorization'] for b in webhook.bodies) == {'Bearer ' + WEBHOOK_TOKEN}
    timings['grouped warning'] = time.monotonic() - began

    # 2. web3's job stopped succeeding 3 h ago: TwzrdJobStale, for web3 only.
    stale = wait_until(lambda: notifications(webhook, 'TwzrdJobStale'), STEP, 'the staleness notification')
    assert len(stale) == 1 and hosts_in(stale[0], twzrd_job='alerts', severity='warning') == ['web3'], stale
    age = prometheus.query('time() - twzrd_job_last_success_timestamp_seconds{instance="web3"}')
    assert THREE_HOURS <= float(age[0]['value'][1]) < THREE_HOURS + 300
    timings['stale'] = time.monotonic() - began

    # 3. A silence made with amtool mutes web3's: web2 goes stale too, and the next message names web2 alone.
    silence_id = am.amtool('silence', 'add', 'alertname=TwzrdJobStale', 'instance=web3', '--duration=1h',
                           '--author=fleet-test', '--comment=web3 is being rebuilt').strip()
    assert silence_id
    wait_until(lambda: [a for a in am.alerts(filter='alertname="TwzrdJobStale"')
                        if a['labels']['instance'] == 'web3' and a['status']['silencedBy'] == [silence_id]],
               STEP, "web3's staleness silenced")
    run_all(hosts, args, web2=disk(WARNING_FILL, THREE_HOURS))
    muted = wait_until(lambda: [b for b in notifications(webhook, 'TwzrdJobStale') if 'web2' in hosts_in(b)],
                       STEP, "web2's staleness notification")[0]
    assert hosts_in(muted) == ['web2'] and 'web3' not in hosts_in(muted, status='resolved'), muted['alerts']
    silenced = am.amtool('alert', 'query', '--silenced', 'alertname=TwzrdJobStale', '-o', 'extended')
    assert 'instance="web3"' in silenced and 'instance="web2"' not in silenced, silenced
    timings['silence'] = time.monotonic() - began

    # 4. web1 crosses the critical level: criticals go to chat and mail, in a message of their own.
    mark = len(webhook.bodies)
    run_all(hosts, args, web1=disk(CRITICAL_FILL))
    critical = wait_until(lambda: notifications(webhook, 'TwzrdDiskUsedHigh', 'chat-and-mail'), STEP,
                          'the disk critical notification')
    assert len(critical) == 1 and hosts_in(critical[0], severity='critical') == ['web1'], critical
    mails = wait_until(lambda: disk_mails(smtp), STEP, 'the critical email')
    assert len(mails) == 1 and 'TwzrdDiskUsedHigh' in mails[0][0] and 'FIRING' in mails[0][0], mails
    assert 'web1' in mails[0][1] and 'web2' not in mails[0][1]

    # A critical inhibits the warning of the same check on the same host and path. The shipped rules are
    # banded (warning above 85 % and at most 95 %): web1's warning resolved as its critical fired, so they
    # never fire together. (That "resolved" is muted by the critical too when the critical reaches
    # Alertmanager first: Prometheus sends each rule's alerts apart, so not always: not asserted.) A warning
    # beside the critical, as a rule without the band sends it, comes from amtool alert add with the
    # critical's labels, next to a control warning of web1 on another path: the control is told, the
    # warning is held back.
    held = [a for a in am.alerts(filter='alertname="TwzrdDiskUsedHigh"') if a['labels']['severity'] == 'critical']
    assert len(held) == 1, held
    labels = dict(held[0]['labels'], severity='warning')
    control = dict(labels, path='/srv/other')
    for alert in (labels, control):
        am.amtool('alert', 'add', *['%s=%s' % item for item in sorted(alert.items())])
    inhibited = wait_until(lambda: [a for a in am.alerts(filter='alertname="TwzrdDiskUsedHigh"')
                                    if a['labels'] == labels and a['status']['inhibitedBy']], STEP,
                           'the warning inhibited')
    assert inhibited[0]['status']['state'] == 'suppressed'
    shown = am.amtool('alert', 'query', '--inhibited', 'alertname=TwzrdDiskUsedHigh', '-o', 'extended')
    assert 'path="%s"' % data in shown and 'path="/srv/other"' not in shown, shown
    with_control = wait_until(lambda: [b for b in notifications(webhook, 'TwzrdDiskUsedHigh', 'chat', mark)
                                       if [a for a in b['alerts'] if a['labels'].get('path') == '/srv/other']],
                              STEP, 'the control warning notified')[0]
    assert hosts_in(with_control, path=str(data)) == ['web2', 'web3'], with_control['alerts']
    assert not [b for b in notifications(webhook, 'TwzrdDiskUsedHigh', 'chat', mark)
                if 'web1' in hosts_in(b, path=str(data))]  # web1's warning on that path: never told as firing
    timings['critical and inhibition'] = time.monotonic() - began

    # 5. Recovery: every disk back to 50 %, the jobs run now: resolved messages (send_resolved), mail too.
    now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    for alert in (labels, control):  # what amtool sent ends as Prometheus ends its alerts
        am.amtool('alert', 'add', '--end=' + now, *['%s=%s' % item for item in sorted(alert.items())])
    mark = len(webhook.bodies)
    results = run_all(hosts, args, **dict((name, disk(GOOD_FILL)) for name in HOSTS))
    assert set(r['status'] for r in results.values()) == {'ok'}, results

    def warnings_resolved():  # a group's hosts may resolve over two evaluations, so over two messages
        return resolved_hosts(notifications(webhook, 'TwzrdDiskUsedHigh', 'chat', mark), path=str(data))
    wait_until(lambda: {'web2', 'web3'} <= set(warnings_resolved()), STEP, 'the warnings resolved')
    assert notifications(webhook, 'TwzrdDiskUsedHigh', 'chat', mark)[-1]['status'] == 'resolved'
    wait_until(lambda: resolved_hosts(notifications(webhook, 'TwzrdDiskUsedHigh', 'chat-and-mail', mark))
               == ['web1'], STEP, 'the critical resolved')
    mails = wait_until(lambda: disk_mails(smtp)[1:], STEP, 'the resolved email')
    assert len(mails) == 1 and 'RESOLVED' in mails[0][0] and 'web1' in mails[0][1], mails
    wait_until(lambda: resolved_hosts(notifications(webhook, 'TwzrdJobStale', since=mark)) == ['web2'], STEP,
               "web2's staleness resolved")
    # web3's staleness resolved too, under its silence: no message (checked two group intervals later)
    wait_until(lambda: not am.alerts(filter='alertname="TwzrdJobStale"'), STEP, 'staleness gone')
    time.sleep(2)
    assert [hosts_in(b, status=s) for b in notifications(webhook, 'TwzrdJobStale', since=mark)
            for s in ('firing', 'resolved') if 'web3' in hosts_in(b, status=s)] == []
    timings['resolved'] = time.monotonic() - began
    print('fleet timings (s): %s' % ', '.join('%s %.1f' % item for item in timings.items()))
    assert time.monotonic() - began < 120


@pytest.fixture
def fleet_without_alertmanager(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('needs root: each host run mounts its own tmpfs in a private mount namespace')
    try:
        fleet_harness.require(fleet_harness.PROMETHEUS)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    started = []
    try:
        hosts = {}
        for name in ('default', 'strict', 'tuned'):
            hosts[name] = FleetHost(name, tmp_path / 'hosts').start()
            started.append(hosts[name])
        yield hosts, lambda: started.append(Prometheus(
            tmp_path / 'prometheus', dict((n, h.address) for n, h in hosts.items())).start()) or started[-1]
    finally:
        for server in reversed(started):
            server.stop()


def test_prometheus_judges_each_host_by_its_own_thresholds(fleet_without_alertmanager, tmp_path):
    """Three hosts, three disk thresholds: 'default' (85/95) at 60 %, 'strict' (disk_warning 50) at 60 %, 'tuned'
    (90/98) at 87 %. The shipped rules fire for 'strict' alone, as the hosts themselves judge: not at the default
    85 % on 'tuned', and not silent on 'strict' below it."""
    hosts, start_prometheus = fleet_without_alertmanager
    data = tmp_path / 'data'
    data.mkdir()
    args = dict(QUIET_SYSTEM, pm2_bin='/bin/false', pm2_home=str(tmp_path / 'no-pm2'), disk_paths=[str(data)])
    own = {'default': {}, 'strict': {'disk_warning': 50}, 'tuned': {'disk_warning': 90, 'disk_critical': 98}}
    fills = {'default': 0.60, 'strict': 0.60, 'tuned': 0.87}
    procs = [hosts[name].run_alerts(dict(args, **own[name]), disk_path=str(data), disk_fill=fills[name])
             for name in sorted(hosts)]
    results = dict(zip(sorted(hosts), finish(*procs)))
    told = dict((name, [(a['check'], a['level']) for a in result['alerts']]) for name, result in results.items())
    assert told == {'default': [], 'strict': [('disk', 'warning')], 'tuned': []}, results
    prometheus = start_prometheus()

    # every host's thresholds, in the series' unit (a ratio), beside its disk series
    exported = wait_until(lambda: dict(
        ((s['metric']['instance'], s['metric']['level']), float(s['value'][1]))
        for s in prometheus.query('twzrd_threshold{check="disk",path="%s"}' % data)) if len(
        prometheus.query('twzrd_threshold{check="disk"}')) == 6 else None, STEP, 'the thresholds scraped')
    assert exported == {('default', 'warning'): 0.85, ('default', 'critical'): 0.95, ('strict', 'warning'): 0.5,
                        ('strict', 'critical'): 0.95, ('tuned', 'warning'): 0.9, ('tuned', 'critical'): 0.98}

    def firing():
        return sorted((a['labels']['instance'], a['labels']['severity']) for a in prometheus.alerts()
                      if a['labels']['alertname'] == 'TwzrdDiskUsedHigh' and a['state'] == 'firing')
    assert wait_until(firing, STEP, 'the strict host alerting') == [('strict', 'warning')]
    [alert] = [a for a in prometheus.alerts() if a['labels']['alertname'] == 'TwzrdDiskUsedHigh']
    assert '(warning above 50%)' in alert['annotations']['summary'], alert  # the host's threshold, not 85 %
    # a few more evaluations: the tuned host at 87 % (past the default 85 %, under its own 90 %) stays quiet
    time.sleep(3)
    assert firing() == [('strict', 'warning')]
    # the fleet view and each host agree: the same (host, level) pairs
    assert firing() == sorted((name, level) for name, pairs in told.items() for dummy, level in pairs)
