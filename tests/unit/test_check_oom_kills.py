"""The hourly `oom_kills` check (issue 19 item 3): recorded counters and kernel logs, then the real /proc and
/dev/kmsg (a real OOM kill is in tests/integration/test_check_oom_kills.py)."""
import os
import re
import time

import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.host import kernel_log
from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry

BOOT = 1796000000
PARAMS = {'oom_kills_warning': 0, 'oom_kills_critical': None}
VMSTAT = 'nr_free_pages 5000\npgfault 123456\noom_kill %d\nthp_fault_alloc 0\n'
KMSG = ('6,1001,1000000,-;systemd[1]: Started cron.service\n'
        '3,1002,2000000,-;Out of memory: Killed process 4242 (node) total-vm:1500000kB, anon-rss:900000kB\n'
        ' SUBSYSTEM=memory\n'
        '3,1003,3000000,-;Memory cgroup out of memory: Killed process 4343 (postgres) total-vm:100kB\n'
        '4,1004,3000100,-;oom_reaper: reaped process 4343 (postgres), now anon-rss:0kB\n')


@pytest.mark.parametrize('state, count, kills', [
    (None, 3, None),  # first run: the baseline only
    ({'count': 'x', 'boot_time': BOOT}, 3, None),  # a state someone else wrote: a new baseline
    ({'count': 3, 'boot_time': BOOT}, 3, 0),
    ({'count': 3, 'boot_time': BOOT + 1}, 5, 2),  # boot_time wobbles by a second between reads
    ({'count': 3, 'boot_time': BOOT - 3600}, 1, 1),  # rebooted: every kill since boot is new
    ({'count': 9, 'boot_time': BOOT}, 4, 4),  # a counter that went down
])
def test_kills_since_the_baseline(state, count, kills):
    metric, new_state = host.oom_kills_since(count, BOOT, state)
    assert metric == {'count': count, 'kills': kills}
    assert new_state == {'count': count, 'boot_time': BOOT}


def test_a_kernel_without_the_counter_gives_no_reading():
    metric, new_state = host.oom_kills_since(None, BOOT, {'count': 3, 'boot_time': BOOT})
    assert new_state is None and 'oom_kill counter' in metric['error']
    assert registry.evaluate([host.OOM_KILLS], {'oom_kills': metric}, PARAMS) == ([], {})


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    """A recorded /proc/vmstat and kernel log in place of the real ones."""
    def record(count, kmsg=KMSG):
        (tmp_path / 'vmstat').write_text(VMSTAT % count)
        monkeypatch.setattr(kernel_log, 'VMSTAT', str(tmp_path / 'vmstat'))
        if kmsg is None:
            monkeypatch.setattr(kernel_log, 'KMSG', str(tmp_path / 'no-kmsg'))
            monkeypatch.setattr(kernel_log, 'read_dmesg', lambda timeout=5: None)
        else:
            (tmp_path / 'kmsg').write_text(kmsg)
            monkeypatch.setattr(kernel_log, 'KMSG', str(tmp_path / 'kmsg'))
    monkeypatch.setattr(host.system, 'collect_uptime', lambda now=None: {'boot_time': BOOT, 'uptime_seconds': 1})
    return record


def run(states, params=None):
    """One hourly run of the check: what the registry collects, keeps and evaluates."""
    params = params or PARAMS
    metrics, new_states = registry.collect([host.OOM_KILLS], params, states, 0)
    alerts, readings = registry.evaluate([host.OOM_KILLS], metrics, params)
    return alerts, readings, metrics, new_states


def test_first_run_sets_the_baseline_then_a_kill_is_a_warning_naming_count_and_victims(recorded):
    recorded(7)
    alerts, readings, metrics, states = run(None)
    assert alerts == [] and readings == {} and states == {'oom_kills': {'count': 7, 'boot_time': BOOT}}
    recorded(9)
    [alert], readings, metrics, states = run(states)
    assert (alert['check'], alert['level'], alert['value'], alert['threshold']) == ('oom_kills', 'warning', 2, 0)
    assert alert['message'] == ('kernel OOM killer ended 2 processes since the previous check: node (pid 4242), '
                                'postgres (pid 4343) (threshold: more than 0)')
    assert alert['remediation'].endswith('(docs/runbooks.md#processes-killed-for-memory)')
    assert readings == {'oom_kills': {'value': 2, 'warning': 0, 'critical': None}}
    assert states == {'oom_kills': {'count': 9, 'boot_time': BOOT}}
    # the next quiet hour: nothing, and the reading lets the report stage tell "resolved"
    alerts, readings, metrics, states = run(states)
    assert alerts == [] and readings['oom_kills']['value'] == 0


def test_one_kill_names_the_last_victim_only(recorded):
    recorded(1)
    [alert] = run({'oom_kills': {'count': 0, 'boot_time': BOOT}})[0]
    assert alert['message'].startswith('kernel OOM killer ended 1 process since the previous check: postgres (pid 4343)')


def test_an_unreadable_kernel_log_still_counts(recorded):
    recorded(4, kmsg=None)
    [alert] = run({'oom_kills': {'count': 1, 'boot_time': BOOT}})[0]
    assert alert['message'] == ('kernel OOM killer ended 3 processes since the previous check (the kernel log, '
                                'which names the victims, cannot be read by the job user) (threshold: more than 0)')


def test_critical_when_set_and_exported(recorded):
    recorded(20)
    params = {'oom_kills_warning': 0, 'oom_kills_critical': 5}
    alerts, readings, metrics, states = run({'oom_kills': {'count': 10, 'boot_time': BOOT}}, params)
    assert [a['level'] for a in alerts] == ['critical']
    families = metrics_export.build_families('alerts', None, {'metrics': metrics, 'alerts': alerts}, 'critical', 0, 1)
    [family] = [f for f in families if f[0] == 'twzrd_oom_kills']
    assert family[4] == [(['alerts'], 10.0)]


def test_victim_names_are_plain_text():
    lines = ['3,1,1,-;Out of memory: Killed process 77 (evil\\x1b[2J name) total-vm:1kB']
    assert kernel_log.oom_victims(lines) == [{'pid': 77, 'name': 'evil?x1b?2J?name'}]


def test_the_kernel_log_is_read_bounded(tmp_path):
    log = tmp_path / 'log'
    log.write_text(''.join('6,%d,0,-;line %d\n' % (i, i) for i in range(5000)))
    assert len(kernel_log.read_kmsg(str(log), max_records=100)) == 100
    assert len(kernel_log.read_kmsg(str(log), max_bytes=8192)) < 1000


def test_a_fifo_does_not_block(tmp_path):
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)
    started = time.time()
    assert kernel_log.read_kmsg(fifo) == []
    assert time.time() - started < 1


# --- this machine -----------------------------------------------------------------------------

def test_real_proc_vmstat():
    with open('/proc/vmstat') as handle:
        found = re.search(r'^oom_kill (\d+)$', handle.read(), re.M)
    if not found:
        pytest.skip('kernel without an oom_kill counter')
    before = int(found.group(1))
    assert before <= kernel_log.vmstat_counter('oom_kill') <= before + 5  # kills elsewhere meanwhile
    assert kernel_log.vmstat_counter('no_such_counter') is None


def test_real_kmsg_is_read_to_its_end_without_blocking():
    try:
        started = time.time()
        lines = kernel_log.read_kmsg()
    except OSError as exc:
        pytest.skip('/dev/kmsg not readable here: %s' % exc)
    assert time.time() - started < kernel_log.MAX_SECONDS + 1
    assert lines and all(isinstance(line, str) for line in lines)
    assert any(re.match(r'^\d+,\d+,\d+,', line) for line in lines)  # kmsg records: prio,seq,usec,flags;text
