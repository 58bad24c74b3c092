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
