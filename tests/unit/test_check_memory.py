"""The hourly `memory` check (issue 19 item 3): recorded meminfo figures, then this machine's /proc/meminfo."""
import pytest

from ansible_collections.twzrd.ops.plugins.module_utils.report import metrics_export
from ansible_collections.twzrd.ops.plugins.module_utils.host import collect as system
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, registry

GIB = 1 << 30
PARAMS = {'memory_warning': 90.0, 'memory_critical': 95.0, 'swap_warning': 20.0, 'swap_critical': 80.0}
NO_SWAP = {'present': False, 'total_bytes': 0, 'used_bytes': 0, 'used_percent': 0.0}


class VirtualMemory:
    def __init__(self, total, available):
        self.total = total
        self.available = available


class SwapMemory:
    total = used = 0


def recorded(monkeypatch, total, available):
    """psutil's figures as a 2 GiB VPS without swap reports them (its available is MemAvailable)."""
    monkeypatch.setattr(system.psutil, 'virtual_memory', lambda: VirtualMemory(total, available))
    monkeypatch.setattr(system.psutil, 'swap_memory', SwapMemory)
    return system.collect_memory()


@pytest.mark.parametrize('available, level, threshold', [
    (GIB // 4, None, None),  # 87.5 % used
    (GIB // 8, 'warning', 90.0),  # 93.75 %
    (GIB // 32, 'critical', 95.0),  # 98.4 %
])
def test_a_host_without_swap_gets_memory_alerts(monkeypatch, available, level, threshold):
    metrics = recorded(monkeypatch, 2 * GIB, available)
    assert metrics['swap'] == NO_SWAP
    alerts, readings = registry.evaluate(registry.for_mode(host.CHECKS, 'alerts'), metrics, PARAMS)
    assert [(a['check'], a['level'], a['threshold']) for a in alerts] == ([('memory', level, threshold)] if level else [])
    assert readings['memory'] == {'value': metrics['memory']['used_percent'], 'warning': 90.0, 'critical': 95.0}
    assert 'swap' not in readings


def test_message_and_remediation(monkeypatch):
    metrics = recorded(monkeypatch, 2 * GIB, GIB // 8)
    [alert] = registry.evaluate([host.MEMORY], metrics, PARAMS)[0]
    assert alert['message'] == ('memory 93.8% used (0.1 GiB available of 2.0 GiB), above the warning threshold '
                                'of 90.0%')
    assert alert['value'] == 93.8 and 'subject' not in alert
    assert alert['remediation'].endswith('(docs/runbooks.md#swap-or-memory-exhausted)')
    families = metrics_export.build_families('alerts', None, {'metrics': metrics, 'alerts': [alert]}, 'warning', 0, 1)
    [family] = [f for f in families if f[0] == 'twzrd_memory_used_ratio']
    assert family[4] == [(['alerts'], pytest.approx(0.938))]


def test_only_the_hourly_job_runs_it():
    assert host.MEMORY in registry.for_mode(host.CHECKS, 'alerts')
    assert host.MEMORY not in registry.for_mode(host.CHECKS, 'report')


def meminfo():
    values = {}
    with open('/proc/meminfo') as handle:
        for line in handle:
            name, rest = line.split(':', 1)
            values[name] = int(rest.split()[0]) * 1024
    return values


def test_real_meminfo_is_what_the_check_reads():
    """(MemTotal - MemAvailable) / MemTotal from /proc/meminfo, read around the collector's own reading."""
    before = meminfo()
    memory = system.collect_memory()['memory']
    after = meminfo()
    assert memory['total_bytes'] == before['MemTotal']
    low = min(before['MemAvailable'], after['MemAvailable'])
    high = max(before['MemAvailable'], after['MemAvailable'])
    slack = 64 << 20  # other processes allocate between the reads
    assert low - slack <= memory['available_bytes'] <= high + slack
    expected = 100.0 * (memory['total_bytes'] - memory['available_bytes']) / memory['total_bytes']
    assert memory['used_percent'] == pytest.approx(expected, abs=0.05)
