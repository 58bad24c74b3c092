"""TwzrdCheckAlert forwards every twzrd_alert that no rule of its own covers; a check with its own rule must be
excluded there, or Alertmanager gets two messages for one condition (memory at 96 % fired both
TwzrdMemoryUsedHigh and TwzrdCheckAlert{check="memory"} before this test)."""
import os
import re

import yaml

from ansible_collections.twzrd.ops.plugins.module_utils.checks import host, postgres

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def catch_all_expr():
    with open(os.path.join(ROOT, 'extras', 'prometheus', 'twzrd.rules.yml')) as handle:
        rules = yaml.safe_load(handle)
    [expr] = [rule['expr'] for group in rules['groups'] for rule in group['rules']
              if rule.get('alert') == 'TwzrdCheckAlert']
    return expr


def test_every_check_with_its_own_rule_is_excluded_from_the_catch_all():
    expr = catch_all_expr()
    first = expr[:expr.index('}')]  # the first selector: the exclusions
    excluded = set(name for group in re.findall(r'check!~"([^"]+)"', first) for name in group.split('|'))
    ruled = set(entry.name for entry in host.CHECKS + postgres.CHECKS if entry.rule is not None)
    assert ruled - excluded == set()


def test_the_alerts_read_from_the_newer_db_job_are_every_acute_check():
    """twzrd:pg_superseded_alert names the checks (and failed collections) db_alerts looks at: one left out would
    let the daily run's stale alert of it fire for a day after the hourly run saw it gone (docs/schedule.md)."""
    from ansible_collections.twzrd.ops.plugins.module_utils.runs import db_health  # pylint: disable=import-outside-toplevel
    with open(os.path.join(ROOT, 'extras', 'prometheus', 'twzrd.rules.yml')) as handle:
        rules = yaml.safe_load(handle)
    [expr] = [rule['expr'] for group in rules['groups'] for rule in group['rules']
              if rule.get('record') == 'twzrd:pg_superseded_alert']
    named = set(re.search(r'check=~"([^"]+)"', expr).group(1).split('|'))
    assert named == set(['connection'] + db_health.acute_checks() + list(db_health.ACUTE_COLLECTIONS))
    assert not named & set(db_health.out_of_scope('acute'))
    assert 'unless twzrd:pg_superseded_alert' in catch_all_expr()
