"""Helpers for the testinfra checks: read /etc/cron.d/twzrd and run a job's
command the way cron runs it (its user, cron's minimal environment, /bin/sh)."""
import json
import os
import shlex
import sys

# The run logs have one parser (docs/logs.md); core/logline.py needs only the standard library.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                'plugins', 'module_utils', 'core'))
import logline  # noqa: E402  pylint: disable=wrong-import-position

parse_logline = logline.parse_line

CRON_FILE = '/etc/cron.d/twzrd'
COLLECTION = '/opt/twzrd/collections/ansible_collections/twzrd/ops'


def cron_entries(host):
    """{job: {'schedule', 'user', 'command'}} of the enabled jobs in the cron file."""
    entries = {}
    env = {}
    for line in host.file(CRON_FILE).content_string.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        if '=' in stripped.split()[0]:
            key, value = stripped.split('=', 1)
            env[key.strip()] = value.strip()
            continue
        fields = stripped.split(None, 6)
        entries[fields[6].split()[-1]] = {
            'schedule': ' '.join(fields[:5]), 'user': fields[5], 'command': fields[6]}
    return entries, env


def job_config(host, job):
    with host.sudo():
        return json.loads(host.file('/etc/twzrd/%s.json' % job).content_string)


def log_lines(host, path):
    result = host.run('cat %s', path)
    assert result.rc == 0, result.stderr
    return result.stdout.splitlines()


def run_as_cron(host, job):
    """Run JOB's cron command as cron would; returns (result, new log lines)."""
    entries, env = cron_entries(host)
    entry = entries[job]
    log_file = job_config(host, job)['ANSIBLE_MODULE_ARGS']['log_file']
    before = log_lines(host, log_file)
    home = host.user(entry['user']).home
    cron_env = ' '.join('%s=%s' % (k, shlex.quote(v)) for k, v in sorted(env.items()))
    command = 'cd %s && env -i HOME=%s LOGNAME=%s USER=%s %s /bin/sh -c %s' % (
        shlex.quote(home), shlex.quote(home), entry['user'], entry['user'], cron_env,
        shlex.quote(entry['command']))
    result = host.run('runuser -u %s -- /bin/sh -c %s', entry['user'], command)
    after = log_lines(host, log_file)
    assert after[:len(before)] == before, 'the log was rewritten, not appended to'
    return result, after[len(before):]
