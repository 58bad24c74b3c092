"""bench/bench_check_postgres.py: reading check_postgres's Nagios lines and our result, and comparing both with
what the bench seeded.  The check_postgres lines are the ones check_postgres 2.25 printed in the bench (the
perfdata shortened)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.bench_check_postgres import differences, our_findings, parse_nagios, their_finding  # noqa: E402

PREFIX = 'DB "bench_check_postgres" (host:/tmp/twzrd-pg-exygdt7j/sock) (port=37325) '
SEQUENCE = ('POSTGRES_SEQUENCE WARNING: ' + PREFIX + 'public.t00042_id_seq=80% (calls left=429496730) | time=0.02s '
            'public.t00042_id_seq=80%;75%;90% public.t00000_id_seq=0%;75%;90%\n')
QUERY_TIME = ('POSTGRES_QUERY_TIME WARNING: ' + PREFIX + 'longest query: 8s PID:11473 database:bench_check_postgres '
              'username:postgres query:SELECT pg_sleep(3600) | time=0.01s query_time=8s;1;1800\n')
LOCKS = ('POSTGRES_LOCKS WARNING: ' + PREFIX + 'total "waiting" locks: 1 | time=0.01s '
         'bench_check_postgres.waiting=1;1;50\n')
ARCHIVE = 'POSTGRES_ARCHIVE_READY OK: ' + PREFIX + 'WAL ".ready" files found: 0 | time=0.01s files=0;10;15\n'
SLOTS = ('POSTGRES_REPLICATION_SLOTS WARNING: ' + PREFIX + 'bench_idle_slot: 43 MB (physical 0/1500718 inactive)  | '
         'time=0.01s bench_idle_slot=45088768;1048576;10737418240\n')
SEEDED = {'sequence': 'public.t00042_id_seq', 'column': 'public.t00042.id', 'sleeper_pid': 11473,
          'waiter_pid': 11480, 'slot': 'bench_idle_slot'}


def theirs():
    return dict((action, their_finding(action, output)) for action, output in (
        ('sequence', SEQUENCE), ('query_time', QUERY_TIME), ('locks', LOCKS), ('archive_ready', ARCHIVE),
        ('replication_slots', SLOTS)))


def alert(check, subject, level='warning', message='...'):
    return {'check': check, 'subject': subject, 'level': level, 'message': message}


def our_result(**changes):
    result = {'alerts': [alert('sequences', 'public.t00042.id'), alert('long_queries', '11473'),
                         alert('long_queries', '11480'), alert('blocking', '11480'),
                         alert('replication', 'bench_idle_slot'), alert('dead_rows', 'public.t1')],
              'unchecked': [], 'metrics': {'archiving': {'archive_mode': 'on'}, 'replication': {'role': 'primary'}}}
    result.update(changes)
    return result


def test_the_nagios_line_is_split_and_the_prefix_and_perfdata_dropped():
    assert parse_nagios(LOCKS) == ('LOCKS', 'warning', 'total "waiting" locks: 1')
    assert parse_nagios(ARCHIVE) == ('ARCHIVE_READY', 'ok', 'WAL ".ready" files found: 0')


@pytest.mark.parametrize('output', ['', 'ERROR: could not connect\n', 'Usage: check_postgres <options>\n'])
def test_output_that_is_not_a_nagios_line_is_an_error_naming_it(output):
    with pytest.raises(ValueError, match='not check_postgres output'):
        parse_nagios(output)


def test_each_action_names_what_it_found():
    assert theirs() == {'sequence': ('warning', ['public.t00042_id_seq']), 'query_time': ('warning', 11473),
                        'locks': ('warning', 1), 'archive_ready': ('ok', 0),
                        'replication_slots': ('warning', ['bench_idle_slot'])}


def test_quiet_and_unknown_actions():
    ok = 'POSTGRES_SEQUENCE OK: ' + PREFIX + 'public.t00000_id_seq=0% (calls left=2147483646) | time=0.02s x=0%;75%;90%'
    assert their_finding('sequence', ok) == ('ok', [])
    none = 'POSTGRES_QUERY_TIME OK: ' + PREFIX + 'no queries | time=0.01s query_time=0;1;1800'
    assert their_finding('query_time', none) == ('ok', None)
    assert their_finding('replication_slots', 'POSTGRES_REPLICATION_SLOTS OK: ' + PREFIX +
                         'No replication slots found | time=0.01s') == ('ok', [])
    unknown = 'POSTGRES_LOCKS UNKNOWN: ' + PREFIX + 'No matching databases found'
    assert their_finding('locks', unknown) == ('unknown', 'No matching databases found')


def test_two_sequences_over_the_threshold_are_both_named():
    output = ('POSTGRES_SEQUENCE CRITICAL: ' + PREFIX + 'public.a_id_seq=95% (calls left=9) public."Odd Seq"=80% '
              '(calls left=20) | time=0.02s')
    assert their_finding('sequence', output) == ('critical', ['public."Odd Seq"', 'public.a_id_seq'])


def test_the_output_of_another_action_is_refused():
    with pytest.raises(ValueError, match='expected POSTGRES_LOCKS, got POSTGRES_SEQUENCE'):
        their_finding('locks', SEQUENCE)


def test_our_findings_keep_the_five_checks_only():
    assert our_findings(our_result()) == {
        'sequences': ('warning', ['public.t00042.id']), 'long_queries': ('warning', ['11473', '11480']),
        'blocking': ('warning', ['11480']), 'archiving': ('ok', []), 'replication': ('warning', ['bench_idle_slot'])}


def test_a_critical_alert_makes_the_check_critical():
    result = our_result(alerts=[alert('sequences', 'public.a.id'), alert('sequences', 'public.b.id', 'critical')])
    assert our_findings(result)['sequences'] == ('critical', ['public.a.id', 'public.b.id'])


def test_a_check_that_did_not_look_is_not_quiet():
    skipped = our_result(metrics={'archiving': {'skipped': 'archive_mode is off'}})
    assert our_findings(skipped)['archiving'] == ('skipped', ['archive_mode is off'])
    assert our_findings(our_result(unchecked=['sequences']))['sequences'][0] == 'unknown'
    failed = our_result(alerts=[alert('blocking', 'blocking', 'warning', 'check blocking failed: timeout')])
    assert our_findings(failed)['blocking'] == ('unknown', ['check blocking failed: timeout'])


def test_the_same_seeded_conditions_make_no_difference():
    assert differences(theirs(), our_findings(our_result()), SEEDED) == []
    # ours may name only the sleeper when the waiter has not waited past the threshold yet
    alerts = [a for a in our_result()['alerts'] if (a['check'], a['subject']) != ('long_queries', '11480')]
    assert differences(theirs(), our_findings(our_result(alerts=alerts)), SEEDED) == []


def test_what_differs_is_named():
    mine = our_findings(our_result(alerts=[alert('long_queries', '11473')],
                                   metrics={'archiving': {'skipped': 'archive_mode is off'}}))
    found = theirs()
    found['locks'] = ('ok', 0)
    problems = differences(found, mine, SEEDED)
    assert problems == [
        "check_postgres locks: expected ('warning', 1), got ('ok', 0)",
        "twzrd_db_health sequences: expected ('warning', ['public.t00042.id']), got ('ok', [])",
        "twzrd_db_health blocking: expected ('warning', ['11480']), got ('ok', [])",
        "twzrd_db_health archiving: expected ('ok', []), got ('skipped', ['archive_mode is off'])",
        "twzrd_db_health replication: expected ('warning', ['bench_idle_slot']), got ('ok', [])",
    ]


def test_the_readme_section_is_replaced_in_place(tmp_path, monkeypatch):
    from bench import bench_check_postgres as bench
    readme = tmp_path / 'README.md'
    readme.write_text('# Benchmarks\n\n%s\nold numbers\n%s\n\n## next section\n' % (bench.BEGIN, bench.END))
    monkeypatch.setattr(bench, 'README', str(readme))
    run = {'tables': 5000, 'sequences': 5000, 'runs': 15, 'twzrd_db_health_s': 0.5, 'twzrd_query_ms': 300.0,
           'check_postgres_s': 1.8, 'ratio': 2.4, 'acute_s': 0.5, 'acute_query_ms': 120.0, 'ratio_acute': 3.6,
           'our_other_alerts': [],
           'check_postgres_per_action_s': dict((action, 0.3) for action, dummy in bench.CHECK_POSTGRES_ACTIONS),
           'twzrd_collectors_ms': [('sequences', 180.0), ('archiving', 0.4)], 'module_start_s': 0.15}
    results = {'when': '2026-12-07 10:00 UTC', 'cpus': 2, 'loadavg_start': '1.0 1.0 1.0', 'loadavg': '2.0 1.0 1.0',
               'server_version': '15.18', 'bench': run}
    bench.write_readme(results)
    text = readme.read_text()
    assert 'old numbers' not in text and text.endswith('\n\n## next section\n') and text.count(bench.BEGIN) == 1
    assert '**3.6x** (target >= 3x: met)' in text and 'sequences 180.0, archiving 0.4' in text
    assert '| ratio check_postgres / twzrd daily run | 2.4x |' in text and '(queries 120.0 ms) | 0.500 s |' in text
    assert 'takes 0.150 s here' in text and 'take 180.4 ms (below)' in text
    assert 'one int4 sequence at 80 %,' in text and '%%' not in text and 'which found nothing.' in text
    run.update(ratio_acute=2.1, our_other_alerts=['dead_rows warning'])
    bench.write_readme(results)
    text = readme.read_text()
    assert '**2.1x** (target >= 3x: MISSED)' in text and '(their alerts: dead_rows warning).' in text
