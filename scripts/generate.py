"""Rewrite every file derived from the check registry (plugins/module_utils/checks/).

`make generate` runs this; tests/unit/test_check_registry.py fails when a committed file differs
from what this would write.  Whole generated files carry a header, generated regions of hand-written
files sit between BEGIN/END markers; both say "generated from the check registry, do not edit".

    .venv/bin/python scripts/generate.py          # rewrite (make generate)
    .venv/bin/python scripts/generate.py --check  # list the stale files, exit 1 if any
"""
import json
import os
import sys
import textwrap

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# pylint: disable=wrong-import-position
from ansible_collections.twzrd.ops.plugins.module_utils.checks import host  # noqa: E402
from ansible_collections.twzrd.ops.plugins.module_utils.checks import registry  # noqa: E402
from ansible_collections.twzrd.ops.plugins.module_utils.checks import postgres as db_checks  # noqa: E402
from ansible_collections.twzrd.ops.plugins.module_utils.runs.db_health import acute_checks  # noqa: E402

NOTICE = 'generated from the check registry (plugins/module_utils/checks/) by scripts/generate.py, do not edit'
MODULE = 'twzrd_health'


# --- helpers ------------------------------------------------------------------------------

def _number(value):
    """20 -> '20', 0.5 -> '0.5'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return '%s' % value


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint and the hand-written files have them."""

    def increase_indent(self, flow=False, indentless=False):
        return super(_Dumper, self).increase_indent(flow, False)


def _dump(data, indent):
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110, allow_unicode=True)
    pad = ' ' * indent
    return ''.join(pad + line if line.strip() else line for line in text.splitlines(True))


def _lines(text):
    return text if isinstance(text, list) else [text]


def option_docs(entries):
    """``{option: {description, type, default, elements}}`` as DOCUMENTATION writes them."""
    docs = {}
    threshold_entries = registry.thresholds(entries)
    for entry in entries:
        if entry in threshold_entries:
            _threshold_docs(entry, docs)
        for option in entry.options:
            doc = {'description': _lines(option.description), 'type': option.type}
            if option.elements:
                doc['elements'] = option.elements
            if option.default is not None:
                doc['default'] = option.default
            if option.suboptions:
                doc['suboptions'] = dict((name, _suboption_doc(sub)) for name, sub in option.suboptions.items())
            docs.setdefault(option.name, doc)
    return docs


def _threshold_docs(entry, docs):
    """The warning/critical options of a threshold entry, with their bounds."""
    if entry.bounds[1] is None:  # twzrd_db_health's dead_rows_warning: no maximum
        bounds = 'At least %s.' % _number(entry.bounds[0])
    else:
        bounds = 'Between %s and %s.' % (_number(entry.bounds[0]), _number(entry.bounds[1]))
    for name, default, text in zip((entry.warning_option, entry.critical_option), (entry.warning, entry.critical),
                                   entry.option_doc):
        if name is None:  # a warning-only check
            continue
        doc = {'description': _lines(text) + [bounds], 'type': entry.option_type}
        if default is not None:
            doc['default'] = default
        docs[name] = doc


def _suboption_doc(sub):
    doc = {'description': _lines(sub['description'])}
    doc.update((key, sub[key]) for key in ('type', 'default', 'aliases') if key in sub)
    return doc


def _default_text(value):
    if value is None:
        return 'unset'
    if isinstance(value, list):
        return ', '.join('C(%s)' % item for item in value)
    if isinstance(value, bool):
        return 'V(%s)' % str(value).lower()
    return _number(value)


# --- the whole files ----------------------------------------------------------------------

def doc_fragment(checks=None, module='twzrd_health'):
    """The generated doc fragment of one module's registry options (twzrd_health's by default)."""
    body = _dump({'options': option_docs(host.CHECKS if checks is None else checks)}, 0)
    return ('# -*- coding: utf-8 -*-\n'
            '# Copyright: twzrd.ops contributors\n'
            '# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)\n'
            '# %s\n\n'
            'from __future__ import absolute_import, division, print_function\n'
            '__metaclass__ = type\n\n\n'
            'class ModuleDocFragment(object):\n'
            '    # The threshold options of the %s checks in the check registry.\n'
            "    DOCUMENTATION = r'''\n%s'''\n" % (NOTICE, module, body))


def _prom_value(value, percent):
    """What promtool renders for ``{{ $value }}`` (or ``| humanizePercentage``) of a test sample."""
    if percent:
        return '%s%%' % ('%.4g' % (value * 100))
    return '%.10g' % value


def _labels(entry, subject_value):
    labels = {'instance': 'h1', 'twzrd_job': 'alerts'}
    if entry.per:
        labels[entry.per] = subject_value
    return labels


SUBJECTS = {'path': '/', 'app': 'api', 'name': 'web', 'target': '/var/run/postgresql/.s.PGSQL.5432'}


def _default_threshold_text(entry, level, threshold):
    rule = entry.rule
    if rule.threshold_text.get(level):
        return rule.threshold_text[level]
    if threshold is None:
        return 'its threshold'  # a level off by default: only a host's own threshold fires it
    return '%s%%' % _number(threshold) if rule.percent else _number(threshold)  # as humanizePercentage has it


def _humanize(rule):
    if rule.percent:
        return 'humanizePercentage'
    return 'humanize%s' % rule.humanize if rule.humanize else None


def _rule_texts(entry, level, threshold, value_text, subject, instance, threshold_text=None):
    """The summary and remediation; ``threshold_text`` the threshold as shown (a template in the rules file)."""
    rule = entry.rule
    if threshold_text is None:
        threshold_text = _default_threshold_text(entry, level, threshold)
    fields = {'value': value_text, 'level': level, 'threshold': threshold_text, 'subject': subject}
    summary = '%s: %s' % (instance, rule.summary.format(**fields))
    remediation = (rule.remediation or entry.remediation).format(subject=subject, app=subject)
    return summary, '%s Runbook: docs/runbooks.md#%s' % (remediation, entry.anchor)


THRESHOLD = 'twzrd_threshold'
MATCH = 'ignoring(check, level)'  # the threshold series carries the value series' labels plus these two


def _op(entry):
    return '>' if entry.worse == registry.HIGHER else '<'


def _threshold_selector(entry, level):
    return '%s{check="%s", level="%s"}' % (THRESHOLD, entry.name, level)


def _crossed(entry, level, default):
    """The samples of the entry's series past the host's own ``level`` threshold (twzrd_threshold), or past
    ``default`` on a host that exports no threshold for it (an older version); a level off on the host is
    exported as never crossed (+Inf), so it never fires there."""
    name, op, selector = entry.series.name, _op(entry), _threshold_selector(entry, level)
    lines = ['%s %s %s group_left %s' % (name, op, MATCH, selector)]
    if default is not None:
        lines.append('or %s %s %s unless %s %s' % (name, op, _number(round(default * entry.series.scale, 6)), MATCH,
                                                   selector))
    return lines


def _rule_levels(entry):
    """``[(level, default threshold, expr lines)]`` of the entry's rules: warning between the two, critical past
    the critical one; each compares with the host's own thresholds, the defaults where a host exports none."""
    if entry.rule.fixed:
        level, op, threshold = entry.rule.fixed
        return [(level, threshold, ['%s %s %s' % (entry.series.name, op, _number(threshold))])]
    levels = []
    warning = _crossed(entry, 'warning', entry.warning)
    if entry.critical_option:
        critical = _crossed(entry, 'critical', entry.critical)
        warning = ['(' + warning[0]] + warning[1:-1] + [warning[-1] + ')'] if len(warning) > 1 else warning
        critical_part = ['(' + critical[0]] + critical[1:-1] + [critical[-1] + ')'] if len(critical) > 1 \
            else critical
        warning = warning + ['unless ' + critical_part[0]] + critical_part[1:]
        levels.append(('warning', entry.warning, warning))
        levels.append(('critical', entry.critical, critical))
    else:
        levels.append(('warning', entry.warning, warning))
    return levels


def _summary_yaml(summary):
    """``summary: "..."``, or folded (``>-``) over lines of at most 110 characters when longer (a folded line
    break reads as the one space it replaced: breaks only where the text has one)."""
    line = '          summary: %s\n' % json.dumps(summary)
    if len(line) <= 140:
        return line
    assert '  ' not in summary, summary
    return '          summary: >-\n%s\n' % textwrap.fill(summary, 110, initial_indent=' ' * 12,
                                                         subsequent_indent=' ' * 12, break_on_hyphens=False,
                                                         break_long_words=False)


def _expr_yaml(lines):
    if len(lines) == 1:
        return 'expr: %s\n' % lines[0]
    return 'expr: >-\n' + ''.join('          %s\n' % line for line in lines)


def _threshold_template(entry, level, default_text, labels, humanize):
    """The summary's threshold: the host's own (queried at alert time), else the default's text."""
    names = ['instance'] + [name for name in labels if name != 'instance']
    selector = ','.join(["check='%s'" % entry.name, "level='%s'" % level] + ['%s=%%q' % name for name in names])
    args = ' '.join('$labels.%s' % name for name in names)
    shown = '. | first | value' + (' | %s' % humanize if humanize else '')
    return ('{{ with query (printf "%s{%s}" %s) }}{{ %s }}{{ else }}%s{{ end }}'
            % (THRESHOLD, selector, args, shown, default_text))


def _with_rules(entries):
    """Threshold entries and entries with a fixed rule (a probe's ``up == 0``), in registry order."""
    return [entry for entry in entries if entry.rule is not None and (entry.rule.fixed or entry in
                                                                      registry.thresholds(entries))]


def rules_region():
    out = []
    for entry in _with_rules(host.CHECKS):
        if entry.rule is None:
            continue
        subject = '{{ $labels.%s }}' % entry.per if entry.per else ''
        for level, threshold, expr in _rule_levels(entry):
            value = '{{ $value | humanizePercentage }}' if entry.rule.percent else '{{ $value }}'
            shown = None if entry.rule.fixed else _threshold_template(
                entry, level, _default_threshold_text(entry, level, threshold), [entry.per] if entry.per else [],
                _humanize(entry.rule))
            summary, remediation = _rule_texts(entry, level, threshold, value, subject, '{{ $labels.instance }}',
                                               shown)
            out.append('      - alert: %s\n        %s        labels:\n          severity: %s\n'
                       '        annotations:\n%s          remediation: >-\n%s\n'
                       % (entry.rule.alert, _expr_yaml(expr), level, _summary_yaml(summary),
                          textwrap.fill(remediation, 110, initial_indent=' ' * 12, subsequent_indent=' ' * 12,
                                        break_on_hyphens=False, break_long_words=False)))
    return ''.join(out)


def _step(entry, threshold):
    """A sample just past ``threshold`` in the worse direction, in the series' unit."""
    step = 0.01 if entry.rule.percent else (1 if entry.option_type == 'int' or entry.rule.fixed else 0.5)
    worse = entry.worse if not entry.rule.fixed else (registry.HIGHER if entry.rule.fixed[1] == '>' else registry.LOWER)
    sign = 1 if worse == registry.HIGHER else -1
    return round(threshold * entry.series.scale + sign * step, 6)


def _custom_thresholds(entry):
    """A host's own thresholds for the tests, unlike the defaults: warning between the defaults (twice the
    default without a critical one), critical between that and the default critical (twice the warning where
    the default is off, so a critical the defaults never raise fires on that host)."""
    warning, critical = entry.warning, entry.critical
    if entry.critical_option and critical is not None:
        return warning + (critical - warning) / 2.0, warning + 3 * (critical - warning) / 4.0
    own = 2 * warning if warning else 2
    return own, (2 * own if entry.critical_option else None)


def _threshold_shown(rule, value):
    """What the summary's host threshold renders to (the rule's humanize function of the threshold sample)."""
    if rule.percent:
        return _prom_value(value, True)
    if rule.humanize == 'Duration':
        return _humanize_duration(value)
    if rule.humanize == '1024':
        return _humanize_1024(value)
    return '%g' % value


def _host_threshold_test(entry, labels, step, value_text, texts):
    """A promtool test of the entry's rules on a host that exports its own thresholds (twzrd_threshold): past
    the default but not its own: quiet; past its own warning, then critical: they fire with its thresholds in
    the summary; its critical off (+Inf): warning only; both off: nothing."""
    scale = entry.series.scale
    sign = 1 if entry.worse == registry.HIGHER else -1
    own_warning, own_critical = [None if t is None else round(t * scale, 6) for t in _custom_thresholds(entry)]
    samples = [round(entry.warning * scale + sign * step, 6)]
    expected = [None]
    if own_critical is None:
        samples.append(round(own_warning + sign * step, 6))
    else:
        samples.append(round((own_warning + own_critical) / 2.0, 6))
    expected.append('warning')
    warnings, criticals = [own_warning] * 2, [own_critical] * 2
    if own_critical is not None:
        samples += [round(own_critical + sign * step, 6)] * 3
        expected += ['critical', 'warning', None]
        warnings += [own_warning, own_warning, 'Inf']
        criticals += [own_critical, 'Inf', 'Inf']
    else:
        samples.append(samples[-1])
        expected.append(None)
        warnings.append('Inf')
    shown = {'warning': _threshold_shown(entry.rule, own_warning)}
    if own_critical is not None:
        shown['critical'] = _threshold_shown(entry.rule, own_critical)

    def series(name, extra):
        both = dict(labels, **extra)
        return '%s{%s}' % (name, ','.join('%s="%s"' % (k, both[k]) for k in sorted(both)))

    def values(row):
        return ' '.join(v if isinstance(v, str) else _number(v) for v in row)
    inputs = [{'series': series(entry.series.name, {}), 'values': values(samples)},
              {'series': series(THRESHOLD, {'check': entry.name, 'level': 'warning'}), 'values': values(warnings)}]
    if entry.critical_option:
        inputs.append({'series': series(THRESHOLD, {'check': entry.name, 'level': 'critical'}),
                       'values': values(criticals)})
    checks = []
    for minute, (sample, level) in enumerate(zip(samples, expected)):
        check = {'eval_time': '%dm' % minute, 'alertname': entry.rule.alert, 'exp_alerts': []}
        if level:
            summary, remediation = texts(level, value_text(sample), shown[level])
            check['exp_alerts'] = [{'exp_labels': dict(labels, severity=level),
                                    'exp_annotations': {'summary': summary, 'remediation': remediation}}]
        checks.append(check)
    return {'interval': '1m', 'input_series': inputs, 'alert_rule_test': checks}


def promtool_tests():
    tests = []
    for entry in _with_rules(host.CHECKS):
        levels = _rule_levels(entry)
        if entry.rule.fixed:
            level, dummy, threshold = entry.rule.fixed
            samples, expected = [threshold, _step(entry, threshold)], [None, level]
        else:
            samples = [round(entry.warning * entry.series.scale, 6), _step(entry, entry.warning)]
            expected = [None, 'warning']
        if not entry.rule.fixed and entry.critical is not None:
            samples += [round(entry.critical * entry.series.scale, 6), _step(entry, entry.critical)]
            expected += ['warning', 'critical']
        subject = SUBJECTS.get(entry.per, '')
        labels = _labels(entry, subject)
        series = '%s{%s}' % (entry.series.name, ','.join('%s="%s"' % (k, labels[k]) for k in sorted(labels)))
        checks = []
        thresholds = dict((level, threshold) for level, threshold, dummy in levels)
        for minute, (sample, level) in enumerate(zip(samples, expected)):
            check = {'eval_time': '%dm' % minute, 'alertname': entry.rule.alert, 'exp_alerts': []}
            if level:
                value = _prom_value(sample, entry.rule.percent)
                summary, remediation = _rule_texts(entry, level, thresholds[level], value, subject, 'h1')
                check['exp_alerts'] = [{'exp_labels': dict(labels, severity=level),
                                        'exp_annotations': {'summary': summary, 'remediation': remediation}}]
            checks.append(check)
        tests.append({'interval': '1m',
                      'input_series': [{'series': series, 'values': ' '.join(_number(s) for s in samples)}],
                      'alert_rule_test': checks})
        if not entry.rule.fixed:
            step = 0.01 if entry.rule.percent else (1 if entry.option_type == 'int' else 0.5)
            tests.append(_host_threshold_test(
                entry, labels, step, lambda sample: _prom_value(sample, entry.rule.percent),
                lambda level, value, shown: _rule_texts(entry, level, None, value, subject, 'h1', shown)))
    doc = {'rule_files': ['../../extras/prometheus/twzrd.rules.yml'], 'evaluation_interval': '1m', 'tests': tests}
    return ('---\n# %s\n# promtool test rules (tests/integration/test_prometheus_rules.py): each registry rule fires\n'
            '# above its threshold and not at it, on a host that exports no thresholds (the defaults), and with\n'
            "# a host's own thresholds (twzrd_threshold).\n# yamllint disable rule:line-length\n%s"
            % (NOTICE, _dump(doc, 0)))


# --- regions of hand-written files --------------------------------------------------------

def role_task_lines():
    return ''.join('    %s: "{{ twzrd_%s | default(omit) }}"\n' % (name, name)
                   for name in registry.option_names(host.CHECKS))


def role_spec_region():
    docs = option_docs(host.CHECKS)
    options = {}
    for name in registry.option_names(host.CHECKS):
        doc = docs[name]
        entry = {'description': doc['description'][:-1] if doc['description'][-1].startswith('Between')
                 else list(doc['description'])}
        entry['description'] = entry['description'] + [
            'Sets the module option O(twzrd.ops.%s#module:%s) (module default %s).'
            % (MODULE, name, _default_text(doc.get('default')))]
        entry['type'] = doc['type']
        if 'elements' in doc:
            entry['elements'] = doc['elements']
        options['twzrd_' + name] = entry
    return _dump(options, 6)


def _cell(text):
    return text.replace('\n', ' ')


def _thresholds_doc(entry):
    if entry.thresholds_doc:
        return entry.thresholds_doc
    unit = ' %' if entry.unit == '%' else ''
    parts = []
    if entry.warning is not None:
        parts.append('warning > %s%s' % (_number(entry.warning), unit))
    if entry.critical is not None:
        parts.append('critical > %s%s' % (_number(entry.critical), unit))
    text = ', '.join(parts) + ' (`%s`, `%s`, %s-%s)' % (
        entry.warning_option, entry.critical_option, _number(entry.bounds[0]), _number(entry.bounds[1]))
    if entry.per == 'path':
        text += ' per path in `disk_paths`'
    return text


def alerts_table():
    rows = ['| check | default thresholds | means | what to do |', '|---|---|---|---|']
    for entry in host.CHECKS:
        name = '`%s`' % entry.name
        if entry.per:
            name += ' (subject: %s)' % entry.per
        if entry.modes == ('alerts',):
            name += ', hourly'
        rows.append('| %s | %s | %s | %s [runbook](runbooks.md#%s) |' % (
            name, _cell(_thresholds_doc(entry)), _cell(entry.doc), _cell(entry.todo), entry.anchor))
    return '\n'.join(rows) + '\n'


def configuration_options():
    names = ', '.join('`twzrd_%s`' % name for name in registry.option_names(host.CHECKS))
    return ('The thresholds of the [twzrd_health](health.md) checks, each `twzrd_<option>` setting the option '
            'without `twzrd_` for the alerts and health jobs and playbooks: %s.\n' % names)


def quick_reference():
    rows = ['| check | default | runbook |', '|---|---|---|']
    for entry in registry.for_mode(host.CHECKS, 'alerts'):
        rows.append('| `%s` | %s | [%s](runbooks.md#%s) |' % (entry.name, _cell(_thresholds_doc(entry)),
                                                              entry.anchor, entry.anchor))
    return '\n'.join(rows) + '\n'


def prometheus_series():
    rows = ['| metric | meaning |', '|---|---|']
    for entry in _with_rules(host.CHECKS):
        if entry.series:
            label = '{%s}' % entry.per if entry.per else ''
            rows.append('| `%s%s` | %s (check `%s`) |' % (entry.series.name, label, entry.series.help, entry.name))
    return '\n'.join(rows) + '\n'


def prometheus_rules():
    rows = ['| alert | series | fires (the host\'s `twzrd_threshold`; the default where it exports none) |',
            '|---|---|---|']
    for entry in _with_rules(host.CHECKS):
        if entry.rule.fixed:
            level, op, threshold = entry.rule.fixed
            exprs = ['%s `%s %s` (fixed)' % (level, op, _number(threshold))]
        else:
            exprs = ['%s `%s` %s' % (level, _op(entry), 'its own only (no default)' if threshold is None else
                                     'default `%s`' % _number(round(threshold * entry.series.scale, 6)))
                     for level, threshold, dummy in _rule_levels(entry)]
        rows.append('| `%s` | `%s` | %s |' % (entry.rule.alert, entry.series.name, ', '.join(exprs)))
    return '\n'.join(rows) + '\n'


# --- twzrd_db_health (checks/postgres.py) --------------------------------------------------

DB_MODULE = 'twzrd_db_health'


def db_doc_fragment():
    return doc_fragment(db_checks.CHECKS, DB_MODULE)


def _db_levels(entry):
    if entry.levels:
        return entry.levels
    return 'warning / critical' if entry.critical_option else 'warning'


def _db_default(entry, default):
    if default is None:
        return 'unset'
    return _number(default) + (' %s' % entry.unit if entry.unit in ('s', '%/day') else '')


def _db_thresholds(entry):
    """The table's threshold column: the options with their defaults and bounds, for threshold entries."""
    if entry.code:
        return entry.thresholds_doc
    parts = ['`%s` (%s)' % (name, _db_default(entry, default))
             for name, default in ((entry.warning_option, entry.warning), (entry.critical_option, entry.critical))
             if name]
    low, high = entry.bounds
    text = ' / '.join(parts) + (', at least %s' % _number(low) if high is None
                                else ', %s-%s' % (_number(low), _number(high)))
    return text + ('; ' + entry.thresholds_doc if entry.thresholds_doc else '')


def db_checks_table():
    rows = ['| check | level | threshold option (default) | meaning | remediation |', '|---|---|---|---|---|']
    for entry in db_checks.CHECKS:
        rows.append('| `%s` | %s | %s | %s | %s [runbook](runbooks.md#%s) |' % (
            entry.name, _db_levels(entry), _cell(_db_thresholds(entry)), _cell(entry.doc), _cell(entry.todo),
            entry.anchor))
    rows.append('| *any check* | critical | none | The check\'s query failed (for example cancelled by '
                '`statement_timeout`); message: `check X could not run: …`. The other checks still run. | A timeout '
                'means an overloaded server or a `statement_timeout` too low for this database; otherwise read the '
                'error. [runbook](runbooks.md#a-check-could-not-run) |')
    return '\n'.join(rows) + '\n'


def db_configuration_options():
    names = ', '.join('`%s`' % name for name in registry.option_names(db_checks.CHECKS))
    return ('The thresholds of the [twzrd_db_health](db_health.md) checks, each a key of '
            '`twzrd_db_health_options` for the db_health and db_alerts jobs and the playbook: %s.\n' % names)


def _humanize_duration(value):
    """What Prometheus' humanizeDuration renders for a sample (seconds)."""
    if abs(value) >= 1:
        whole = int(value)
        days, hours, minutes, seconds = whole // 86400, whole // 3600 % 24, whole // 60 % 60, whole % 60
        if days:
            return '%dd %dh %dm %ds' % (days, hours, minutes, seconds)
        if hours:
            return '%dh %dm %ds' % (hours, minutes, seconds)
        if minutes:
            return '%dm %ds' % (minutes, seconds)
        return '%.4gs' % value
    prefix = ''
    for unit in ('m', 'u', 'n'):
        if abs(value) >= 1:
            break
        prefix, value = unit, value * 1000
    return '%.4g%ss' % (value, prefix)


def _humanize_1024(value):
    """What Prometheus' humanize1024 renders for a sample (bytes: 2Gi)."""
    if abs(value) <= 1:
        return '%.4g' % value
    prefix = ''
    for unit in ('ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'):
        if abs(value) < 1024:
            break
        prefix, value = unit, value / 1024.0
    return '%.4g%s' % (value, prefix)


def _db_rule_value(rule, sample):
    if rule.percent:
        return _prom_value(sample, True)
    if rule.humanize == 'Duration':
        return _humanize_duration(sample)
    if rule.humanize == '1024':
        return _humanize_1024(sample)
    return '%g' % sample


def _db_rule_texts(entry, level, threshold, value_text, labels, threshold_text=None):
    rule = entry.rule
    if threshold_text is None:
        threshold_text = _default_threshold_text(entry, level, threshold)
    fields = dict(labels, value=value_text, level=level, threshold=threshold_text)
    summary = '%s: %s' % (labels['instance'], rule.summary.format(**fields))
    remediation = (rule.remediation or entry.remediation).format(**fields)
    return summary, '%s Runbook: docs/runbooks.md#%s' % (remediation, entry.anchor)


def _db_rule_entries():
    return [entry for entry in registry.thresholds(db_checks.CHECKS) if entry.rule]


# The acute checks' series come from two db jobs (db_health daily, db_alerts hourly): a rule reads the newer run's,
# the other one's is superseded (the recording rule twzrd:pg_superseded_job, hand-written above the region).
SUPERSEDED = 'unless on(instance, database, twzrd_job) twzrd:pg_superseded_job'


def _newer_run_only(entry, expr):
    if entry.name not in acute_checks():
        return expr
    return ['(' + expr[0]] + expr[1:-1] + [expr[-1] + ')', SUPERSEDED] if len(expr) > 1 \
        else ['(%s)' % expr[0], SUPERSEDED]


def db_rules_region():
    out = []
    for entry in _db_rule_entries():
        rule = entry.rule
        labels = dict((name, '{{ $labels.%s }}' % name) for name in rule.labels + ('instance',))
        value = '{{ $value | humanize%s }}' % ('Percentage' if rule.percent else rule.humanize) \
            if rule.percent or rule.humanize else '{{ $value }}'
        for level, threshold, expr in _rule_levels(entry):
            expr = _newer_run_only(entry, expr)
            shown = _threshold_template(entry, level, _default_threshold_text(entry, level, threshold), rule.labels,
                                        _humanize(rule))
            summary, remediation = _db_rule_texts(entry, level, threshold, value, labels, shown)
            out.append('      - alert: %s\n        %s        labels:\n          severity: %s\n'
                       '        annotations:\n%s          remediation: >-\n%s\n'
                       % (rule.alert, _expr_yaml(expr), level, _summary_yaml(summary),
                          textwrap.fill(remediation, 110, initial_indent=' ' * 12, subsequent_indent=' ' * 12,
                                        break_on_hyphens=False, break_long_words=False)))
    return ''.join(out)


DB_SAMPLE_LABELS = {'instance': 'db1', 'twzrd_job': 'db_health', 'database': 'app', 'table': 'public.events'}
DB_SAMPLE_LABELS['sequence'] = 'public.orders.id'  # the sequences rule's label (issue 20)
DB_SAMPLE_LABELS.update(slot='old_consumer')  # the replication entry's (checks/postgres.py REPLICATION)


def db_promtool_tests():
    tests = []
    for entry in _db_rule_entries():
        rule = entry.rule
        scale = entry.series.scale
        step = rule.step if rule.step is not None else 0.01
        sign = 1 if entry.worse == registry.HIGHER else -1
        samples, expected = [], []
        for level, threshold in (('warning', entry.warning), ('critical', entry.critical)):
            if threshold is not None:
                at = round(threshold * scale, 6)
                samples += [at, round(at + sign * step, 6)]
                expected += ['warning' if level == 'critical' else None, level]
        labels = dict((name, DB_SAMPLE_LABELS[name]) for name in rule.labels + ('instance', 'twzrd_job'))
        series = '%s{%s}' % (entry.series.name, ','.join('%s="%s"' % (k, labels[k]) for k in sorted(labels)))
        thresholds = dict((level, threshold) for level, threshold, dummy in _rule_levels(entry))
        checks = []
        for minute, (sample, level) in enumerate(zip(samples, expected)):
            check = {'eval_time': '%dm' % minute, 'alertname': rule.alert, 'exp_alerts': []}
            if level:
                summary, remediation = _db_rule_texts(entry, level, thresholds[level], _db_rule_value(rule, sample),
                                                      labels)
                check['exp_alerts'] = [{'exp_labels': dict(labels, severity=level),
                                        'exp_annotations': {'summary': summary, 'remediation': remediation}}]
            checks.append(check)
        tests.append({'interval': '1m',
                      'input_series': [{'series': series, 'values': ' '.join(_number(s) for s in samples)}],
                      'alert_rule_test': checks})
        tests.append(_host_threshold_test(
            entry, labels, step, lambda sample: _db_rule_value(rule, sample),
            lambda level, value, shown: _db_rule_texts(entry, level, None, value, labels, shown)))
    doc = {'rule_files': ['../../extras/prometheus/twzrd.rules.yml'], 'evaluation_interval': '1m', 'tests': tests}
    return ('---\n# %s\n# promtool test rules (tests/integration/test_prometheus_rules.py): each twzrd_db_health '
            'registry rule\n# fires above its threshold and not at it, on a host that exports no thresholds (the '
            "defaults),\n# and with a host's own thresholds (twzrd_threshold).\n# yamllint disable rule:line-length\n%s"
            % (NOTICE, _dump(doc, 0)))


# path -> (kind, [(region name, text)]) ; kind 'file' (whole file) or 'yaml'/'md' regions.
def outputs():
    return {
        'plugins/doc_fragments/health_checks.py': ('file', doc_fragment()),
        'tests/prometheus/checks.yml': ('file', promtool_tests()),
        'extras/prometheus/twzrd.rules.yml': ('yaml', [('host-checks', rules_region()),
                                                       ('db-checks', db_rules_region())]),
        'roles/health_check/tasks/main.yml': ('yaml', [('options', role_task_lines())]),
        'roles/health_check/meta/argument_specs.yml': ('yaml', [('options', role_spec_region())]),
        'docs/alerts.md': ('md', [('twzrd_health', alerts_table())]),
        'docs/configuration.md': ('md', [('twzrd_health', configuration_options()),
                                         ('twzrd_db_health', db_configuration_options())]),
        'docs/quick-reference.md': ('md', [('hourly-checks', quick_reference())]),
        'docs/prometheus.md': ('md', [('series', prometheus_series()), ('rules', prometheus_rules())]),
        # twzrd_db_health
        'plugins/doc_fragments/db_health_checks.py': ('file', db_doc_fragment()),
        'docs/db_health.md': ('md', [('twzrd_db_health', db_checks_table())]),
        'tests/prometheus/db_checks.yml': ('file', db_promtool_tests()),
    }


def markers(kind, region):
    if kind == 'md':
        return ('<!-- BEGIN %s: %s -->\n' % (region, NOTICE), '<!-- END %s -->\n' % region)
    return ('# BEGIN %s: %s\n' % (region, NOTICE), '# END %s\n' % region)


def render(path, kind, content):
    """The whole new text of ``path``."""
    if kind == 'file':
        return content
    with open(os.path.join(ROOT, path)) as handle:
        text = handle.read()
    for region, body in content:
        begin, end = markers(kind, region)
        start = text.index(begin.split(':')[0])  # the marker's line, whatever its notice says
        start_end = text.index('\n', start) + 1
        indent = text[text.rindex('\n', 0, start) + 1:start]
        stop = text.index(end.strip(), start_end)
        text = text[:start - len(indent)] + indent + begin + body + indent + text[stop:]
    return text


def stale():
    found = []
    for path, (kind, content) in sorted(outputs().items()):
        full = os.path.join(ROOT, path)
        old = open(full).read() if os.path.exists(full) else None
        if old != render(path, kind, content):
            found.append(path)
    return found


def main(argv):
    if '--check' in argv:
        paths = stale()
        for path in paths:
            print('stale: %s (run make generate)' % path)
        return 1 if paths else 0
    for path, (kind, content) in sorted(outputs().items()):
        new = render(path, kind, content)
        full = os.path.join(ROOT, path)
        if not os.path.exists(full) or open(full).read() != new:
            with open(full, 'w') as handle:
                handle.write(new)
            print('wrote %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
