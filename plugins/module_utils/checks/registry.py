# -*- coding: utf-8 -*-
# Copyright: twzrd.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check registry: a threshold check as one declarative entry, and the one evaluation of them all.

An entry (:class:`Check`) says what a check reads from the collected metrics,
how it compares, its options with defaults and bounds, its message and
remediation, its runbook section and its Prometheus series and rule.
:func:`evaluate` turns metrics into alerts and, in the same pass, the
readings the report stage needs for hysteresis ("recovered" vs "still near
the threshold", docs/notifications.md).  The module's option spec, bounds,
DOCUMENTATION fragment, the module_args lookup, the health_check role, the
Prometheus rules and the docs' tables are derived from the entries
(``scripts/generate.py``; a unit test fails when a derived file is stale).

Checks that are not a threshold (crash counting details, forecasts, the PM2
daemon's presence) stay code but are registered with ``code=True`` and the
same metadata, so docs and runbook links come from one place.

A collector may return ``{subject: {values...}}`` with an ``error`` field
per subject: with ``error_message`` set, such a subject raises
``error_level`` (a warning by default, or the subject's own ``error_level``) instead of being compared.  With
``subject_thresholds`` a subject's own ``warning``/``critical`` values (an
HTTP check's ``latency_warning_ms``) replace the options' for that subject.
``error_message``, ``error_remediation`` and ``remediation`` may be functions of the
subject's fields instead of templates.  Entries whose collectors belong together (the
network probes, one concurrent round under one budget) share one collector with
``collect_shared=True``: it runs once and returns ``({reads root: metric}, state)``.
Pure: no I/O here (collectors live with the other collectors).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.twzrd.ops.plugins.module_utils.core.alerts import CRITICAL, OK, WARNING, make_alert, runbook

HIGHER = 'higher'  # a higher value is worse (use, load, counts)
LOWER = 'lower'  # a lower value is worse (days left, free space)


class Option:
    """One module option an entry owns besides its thresholds (``disk_paths``, ``load_per_cpu``)."""

    def __init__(self, name, type, description, default=None, elements=None, bounds=None, shared_doc=None,
                 suboptions=None, errors=None, secrets=None):
        self.name = name
        self.suboptions = suboptions  # {name: {type, default, aliases, description}} of a dict option
        self.errors = errors  # errors(value) -> [messages naming the parameter], beyond the spec's types
        self.secrets = secrets  # secrets(value) -> [strings masked in every output (no_log_values)]
        self.type = type
        self.description = description
        self.default = default
        self.elements = elements
        self.bounds = bounds
        self.shared_doc = shared_doc or description

    def spec(self):
        spec = dict(type=self.type)
        if self.default is not None:
            spec['default'] = self.default
        if self.elements:
            spec['elements'] = self.elements
        if self.suboptions:
            spec['options'] = dict((name, dict((key, value) for key, value in sub.items() if key != 'description'))
                                   for name, sub in self.suboptions.items())
        return spec


class Series:
    """The Prometheus gauge an entry exports: ``field`` of what it reads, times ``scale`` (percent -> ratio)."""

    def __init__(self, name, help, field=None, scale=1.0, skipped=None, threshold=None):
        self.name = name
        self.help = help
        self.field = field
        self.scale = scale
        self.skipped = skipped  # value exported when the entry's ``when`` says there is nothing (no swap: 0)
        # threshold(value, data, params): the threshold in the series' unit when the check compares something
        # else than the series (load_per_cpu compares load1 per CPU, the series is load1); after ``scale``
        self.threshold = threshold


class Rule:
    """The Prometheus alerting rule over the entry's series.

    ``summary`` is a template with ``{value}`` (the rendered ``$value``), ``{level}``, ``{threshold}`` and
    ``{subject}`` (the subject's label); ``remediation`` the same, defaulting to the entry's remediation.
    """

    def __init__(self, alert, summary, remediation=None, percent=False, humanize=None, threshold_text=None, step=None,
                 labels=('database',), fixed=None):
        self.alert = alert
        self.fixed = fixed  # (level, '<' or '>', threshold) of an entry without threshold options (up == 0)
        self.summary = summary
        self.remediation = remediation
        self.percent = percent  # the series is a ratio: thresholds are percents, $value | humanizePercentage
        # twzrd_db_health's rules (scripts/generate.py, db section): ``humanize`` the $value (V(Duration)), the
        # threshold as the summary writes it per level, the promtool sample's step past it, the series' labels
        # besides instance and twzrd_job (``{database}`` in a template is the label)
        self.humanize = humanize
        self.threshold_text = threshold_text or {}
        self.step = step
        self.labels = labels


class Check:
    """One check of the registry.  Threshold entries are evaluated here; ``code=True`` entries only describe."""

    def __init__(self, name, doc, todo, anchor, remediation, job='alerts', modes=('alerts', 'report'),
                 code=False, thresholds_doc=None, reads=None, per=None, field=None, value=None, when=None,
                 unit='', worse=HIGHER, option=None, option_type='float', warning=None, critical=None,
                 bounds=(0, 100), option_doc=None, options=(), message=None, facts=None,
                 error_message=None, error_remediation=None, error_anchor=None, error_level=WARNING,
                 reading_options=None, subject_thresholds=False, collect=None, collect_shared=False, series=None,
                 rule=None, option_names=None, levels=None, reading=True, shown=None):
        self.name = name
        self.doc = doc
        self.todo = todo
        self.anchor = anchor
        self.remediation = remediation
        self.job = job
        self.modes = modes
        self.code = code
        self.thresholds_doc = thresholds_doc
        self.reads = reads
        self.per = per
        self.field = field
        self.value = value
        self.when = when
        self.unit = unit
        self.worse = worse
        self.option = option
        self.option_type = option_type
        self.warning = warning
        self.critical = critical
        self.bounds = bounds
        self.option_doc = option_doc
        self.options = tuple(options)
        self.message = message
        self.facts = facts
        self.error_message = error_message
        self.error_remediation = error_remediation
        self.error_anchor = error_anchor
        self.error_level = error_level
        self.reading_options = reading_options
        self.subject_thresholds = subject_thresholds
        self.collect = collect
        self.collect_shared = collect_shared
        self.series = series
        self.rule = rule
        # ``(warning name, critical name or None)`` where the option names are not ``OPTION_warning``/``_critical``
        # (twzrd_db_health's ``connections_warning_pct``); a None critical name means a warning-only check.
        self.option_names = option_names
        self.levels = levels  # the docs' level column when it is not the thresholds' (code entries)
        # whether a measured subject gives a reading (hysteresis): True, False, or a function of its data
        # (twzrd_db_health's dead rows: only the worst ``top_tables`` tables, as the result lists them)
        self.reading = reading
        # the alert's value when it is not the compared one, a function of the message's fields
        # (idle_in_transaction compares the longest idle session and shows how many are over the threshold)
        self.shown = shown

    @property
    def warning_option(self):
        if self.option_names:
            return self.option_names[0]
        return '%s_warning' % self.option if self.option else None

    @property
    def critical_option(self):
        if self.option_names:
            return self.option_names[1]
        return '%s_critical' % self.option if self.option else None

    def threshold_options(self):
        """The option names of the thresholds (read for readings too)."""
        if self.reading_options:
            return self.reading_options
        if self.option:
            return (self.warning_option, self.critical_option)
        return None

    def remediation_text(self, **fields):
        return runbook(_text(self.remediation, fields), self.anchor)


def _text(template, fields):
    """A template filled with ``fields``, or what a function of them returns."""
    return template(fields) if callable(template) else template.format(**fields)


def ruled(entries):
    """Threshold entries whose series has a rule comparing it with the thresholds (not a fixed ``up < 1``)."""
    return [entry for entry in thresholds(entries)
            if entry.series is not None and entry.rule is not None and not entry.rule.fixed]


def levels(entry):
    """``[(level, option name)]`` of a threshold entry: warning, and critical when it has the option."""
    return [(level, name) for level, name in (('warning', entry.warning_option), ('critical', entry.critical_option))
            if name]


def for_mode(entries, mode):
    """The entries that run in ``mode`` (``alerts``: hourly, ``report``: weekly)."""
    return [entry for entry in entries if mode in entry.modes]


def thresholds(entries):
    return [entry for entry in entries if not entry.code and entry.option]


# --- options -----------------------------------------------------------------------------

def argument_spec(entries):
    """The AnsibleModule options every entry owns: its warning/critical pair and its own options."""
    spec = {}
    for entry in entries:
        if entry.option and not entry.code:
            for name, default in ((entry.warning_option, entry.warning), (entry.critical_option, entry.critical)):
                if name is None:
                    continue
                spec[name] = dict(type=entry.option_type)
                if default is not None:
                    spec[name]['default'] = default
        for option in entry.options:
            spec[option.name] = option.spec()
    return spec


def option_names(entries):
    """Every option name of :func:`argument_spec`, in registry order."""
    names = []
    for entry in entries:
        if entry.option and not entry.code:
            names += [name for name in (entry.warning_option, entry.critical_option) if name]
        names += [option.name for option in entry.options if option.name not in names]
    return names


def parameter_errors(entries, params):
    """Each threshold pair within its bounds and warning below critical (higher is worse) or above (lower);
    each option within its bounds and its own checks (``Option.errors``)."""
    # pylint: disable=import-outside-toplevel
    from ansible_collections.twzrd.ops.plugins.module_utils.core.params import bounds_errors, threshold_pair_errors
    errors = []
    for entry in thresholds(entries):
        low, high = entry.bounds
        if entry.worse == HIGHER:
            errors += threshold_pair_errors(params, entry.warning_option, entry.critical_option, low, high)
        else:
            errors += threshold_pair_errors(params, entry.critical_option, entry.warning_option, low, high)
    for entry in entries:
        for option in entry.options:
            if option.bounds:
                errors += bounds_errors(params, {option.name: option.bounds})
            if option.errors:
                errors += option.errors(params.get(option.name))
    return list(dict.fromkeys(errors))


def secrets(entries, params):
    """What the options hold that no output may show (passwords in URLs): for ``no_log_values``."""
    found = []
    for entry in entries:
        for option in entry.options:
            if option.secrets:
                found += [secret for secret in option.secrets(params.get(option.name)) if secret]
    return found


# --- evaluation --------------------------------------------------------------------------

def classify(value, warning, critical, worse=HIGHER):
    """``(level, threshold_crossed)``; equal to a threshold does not cross it; None disables one."""
    if value is None:
        return OK, None

    def crossed(threshold):
        return value > threshold if worse == HIGHER else value < threshold
    if critical is not None and crossed(critical):
        return CRITICAL, critical
    if warning is not None and crossed(warning):
        return WARNING, warning
    return OK, None


def _lookup(metrics, path):
    data = metrics
    for part in path.split('.'):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _subjects(entry, metrics):
    """``[(subject or None, data)]`` the entry compares, sorted by subject."""
    data = _lookup(metrics, entry.reads)
    if data is None:
        return []
    if entry.per:
        return [(subject, data[subject]) for subject in sorted(data) if isinstance(data[subject], dict)]
    return [(None, data)] if isinstance(data, dict) else []


def _value(entry, data, params):
    if entry.value is not None:
        return entry.value(data, params)
    return data.get(entry.field)


def _key(entry, subject):
    return entry.name if subject is None else '%s:%s' % (entry.name, subject)


def evaluate(entries, metrics, params):
    """``(alerts, readings)`` of the entries over ``metrics``.

    ``readings`` maps each alert key (``disk:/path``) to ``{'value', 'warning', 'critical'}``: what the check
    measured now and its thresholds now, for every subject measured, alerting or not.  Code entries that name
    what they read (the disk forecast) give readings only; their alerts come from their own code.
    """
    alerts = []
    readings = {}
    for entry in entries:
        if not entry.reads or not (entry.threshold_options() or entry.subject_thresholds or entry.error_message):
            continue
        warning_name, critical_name = entry.threshold_options() or (None, None)
        for subject, data in _subjects(entry, metrics):
            warning, critical = params.get(warning_name), params.get(critical_name)
            if entry.subject_thresholds:
                warning, critical = data.get('warning', warning), data.get('critical', critical)
            if 'error' in data and data['error'] is not None:
                if entry.error_message and not entry.code:
                    fields = dict(data, subject=subject)
                    alerts.append(make_alert(  # a subject may name its own level (a lost slot vs a slow one)
                        entry.name, data.get('error_level') or entry.error_level, None, None,
                        _text(entry.error_message, fields),
                        runbook(_text(entry.error_remediation, fields), entry.error_anchor), subject=subject))
                continue
            if entry.when is not None and not entry.when(data):
                continue
            value = _value(entry, data, params)
            if value is None:
                continue
            if entry.reading is True or (callable(entry.reading) and entry.reading(data)):
                readings[_key(entry, subject)] = {'value': value, 'warning': warning, 'critical': critical}
            if entry.code:
                continue
            level, threshold = classify(value, warning, critical, entry.worse)
            if level == OK:
                continue
            fields = dict(data, subject=subject, value=value, level=level, threshold=threshold)
            if entry.facts is not None:
                fields.update(entry.facts(fields, params, value))
            message = _text(entry.message, fields)
            shown = value if entry.shown is None else entry.shown(fields)
            alerts.append(make_alert(entry.name, level, shown, threshold, message,
                                     entry.remediation_text(**fields), subject=subject))
    return alerts, readings


def collect(entries, params, states, now):
    """Run the collectors entries bring along: ``(metrics, new_states)``.

    ``states`` is what each entry's collector kept at the previous run (by check name, from the state file,
    untrusted: a collector checks its shape); a collector returns ``(metric, state)``.
    """
    metrics = {}
    new_states = {}
    shared = {}  # a shared collector -> its ({root: metric}, state), run once for all its entries
    states = states if isinstance(states, dict) else {}
    for entry in entries:
        if entry.collect is None:
            continue
        root = entry.reads.split('.')[0]
        if entry.collect_shared:
            if entry.collect not in shared:
                shared[entry.collect] = entry.collect(params, states.get(entry.name), now)
            found, state = shared[entry.collect]
            if root in found:  # a check that is not configured reads nothing and shows nothing
                metrics[root] = found[root]
        else:
            metric, state = entry.collect(params, states.get(entry.name), now)
            metrics[root] = metric
        if state is not None:
            new_states[entry.name] = state
    return metrics, new_states


# --- Prometheus export -------------------------------------------------------------------

def export_series(out, entries, metrics):
    """Add each entry's series to ``out`` (metrics_export.Families) from the run's ``metrics``."""
    for entry in entries:
        series = entry.series
        if series is None:
            continue
        field = series.field or entry.field
        if entry.per:
            for subject, data in _subjects(entry, metrics):
                value = data.get(field)
                out.add(series.name, None if value is None else value * series.scale, series.help,
                        {entry.per: subject})
            continue
        data = _lookup(metrics, entry.reads)
        if not isinstance(data, dict):
            continue
        if entry.when is not None and not entry.when(data):
            out.add(series.name, series.skipped, series.help)
            continue
        value = data.get(field)
        out.add(series.name, None if value is None else value * series.scale, series.help)


# A level switched off (its option unset) is exported as never crossed, so Prometheus tells "off on this host"
# from "a host that exports no thresholds" (an older version: the rules use the defaults).
NEVER = {HIGHER: float('inf'), LOWER: float('-inf')}


def series_thresholds(entry, params, metrics):
    """``[(level, threshold)]`` a ruled entry compared with, in its series' unit (percent thresholds of a ratio
    series as ratios), from the run's ``params``; a level that is off is :data:`NEVER` crossed."""
    data = _lookup(metrics or {}, entry.reads) if entry.reads else None
    found = []
    for level, name in levels(entry):
        value = params.get(name)
        if value is None:
            found.append((level, NEVER[entry.worse]))
            continue
        value = value * entry.series.scale
        if entry.series.threshold is not None:
            value = entry.series.threshold(value, data if isinstance(data, dict) else {}, params)
        found.append((level, round(value, 9)))
    return found
