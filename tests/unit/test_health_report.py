from ansible_collections.twzrd.ops.plugins.module_utils.runs import health
from ansible_collections.twzrd.ops.plugins.module_utils.state import history as trend_history
from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import build_result, make_alert
from ansible_collections.twzrd.ops.plugins.module_utils.report.summary import summary_lines

MEMORY = {'memory': {'total_bytes': 2 * 1073741824, 'available_bytes': 1073741824, 'used_percent': 50.0},
          'swap': {'present': True, 'total_bytes': 1073741824, 'used_bytes': 268435456, 'used_percent': 25.0}}
LOAD = {'load1': 0.5, 'load5': 0.4, 'load15': 0.3, 'cpu_count': 2}


def test_history_is_pruned_and_appended():
    now = 100 * 86400
    old = {'t': now - 40 * 86400, 'load1': 9}
    kept = {'t': now - 86400, 'load1': 1}
    disks = {'/': {'used_bytes': 5, 'free_bytes': 5}, '/gone': {'error': 'missing'}}
    history = trend_history.append_hourly([old, kept, 'garbage'], trend_history.hourly_sample(now, MEMORY, LOAD, disks))
    assert history[1] == kept and history[-1]['t'] == now and history[-1]['swap_pct'] == 25.0
    assert history[-1]['disk'] == {'/': 5}
    # pruned by count, not by the clock (issue 17 item 6): the 40-day-old sample waits its turn
    assert history[0] == old and len(history) == 3


def test_load_trend():
    history = [{'t': 10, 'load1': 5.0}, {'t': 100, 'load1': 1.0}, {'t': 200, 'load1': 2.0}, {'t': 300}]
    assert health.load_trend(history, since=50) == {'samples': 2, 'min': 1.0, 'avg': 1.5, 'max': 2.0}
    assert health.load_trend([], since=0)['samples'] == 0


def test_summary_lines_alerts_mode():
    pm2 = {'installed': True, 'daemon_running': True, 'pm2_home': '/home/app/.pm2', 'user': 'app', 'error': None,
           'apps': {'api': {'online': 2, 'instances': 2, 'restart_time': 3, 'crashes': 0}}}
    result = build_result([make_alert('swap', 'warning', 25.0, 20, 'swap 25.0% used', 'free memory')],
                          dict(MEMORY, load=LOAD, disks={'/': {'used_percent': 40.0, 'free_bytes': 1073741824}},
                               pm2=pm2), mode='alerts', recovered=['load'])
    lines = summary_lines(result)
    assert lines[0] == 'status WARNING: 1 alert(s)'
    assert lines[1] == 'WARNING swap 25.0% used' and lines[2] == '    what to do: free memory'
    assert 'PM2: 1 app(s) under /home/app/.pm2' in lines
    assert '  api: 2/2 online, 3 restarts in total' in lines
    assert lines[-1] == 'recovered since the last run: load'
    fields = dict(health.log_metric_fields(result))
    assert fields == {'swap_pct': 25.0, 'mem_pct': 50.0, 'load1': 0.5, 'pm2_apps': 1, 'pm2_crashes': 0}
