"""Helpers shared by the benchmarks: timing a command's wall and CPU time, the module runs they time."""
import json
import os
import resource
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, '.build', 'collections')


def ensure_collection_link():
    link = os.path.join(COLLECTIONS, 'ansible_collections', 'twzrd', 'ops')
    if not os.path.islink(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)


def collections_at(ref, work):
    """The collection's plugins at git ``ref``, unpacked under ``work``; returns the path for PYTHONPATH."""
    dest = os.path.join(work, 'baseline', 'ansible_collections', 'twzrd', 'ops')
    os.makedirs(dest)
    archive = subprocess.run(['git', 'archive', ref, 'plugins', 'galaxy.yml'], cwd=ROOT,
                             capture_output=True, check=True).stdout
    subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)
    return os.path.join(work, 'baseline')


def write_module_args(path, args):
    """An argument file the way the cron runner hands it to a module; returns ``path``."""
    with open(path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    return path


def timed_run(cmd, env=None, cwd=None, keep_stdout=False):
    """Run ``cmd`` once; returns (wall seconds, CPU seconds of the child tree, returncode, stderr).

    With ``keep_stdout`` the last item is stdout followed by stderr.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, (proc.stdout + proc.stderr) if keep_stdout else proc.stderr


def compare(label_a, cmd_a, label_b, cmd_b, runs=7, env=None, cwd=None):
    """Alternate two commands ``runs`` times each; medians of wall and CPU time."""
    return compare_many(((label_a, cmd_a), (label_b, cmd_b)), runs=runs, env=env, cwd=cwd)


def compare_many(contenders, runs=7, env=None, cwd=None):
    """Run every ``(label, command)`` of ``contenders`` in turn, ``runs`` rounds; medians of wall and CPU time
    by label."""
    samples = dict((label, []) for label, _cmd in contenders)
    for _round in range(runs):
        for label, cmd in contenders:
            wall, cpu, rc, err = timed_run(cmd, env=env, cwd=cwd)
            if rc != 0:
                raise RuntimeError('%s failed (%d): %s' % (label, rc, err.decode('utf-8', 'replace')[-500:]))
            samples[label].append((wall, cpu))
    medians = {}
    for label, values in samples.items():
        medians[label] = (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
    return medians


def replace_readme_section(readme, begin, end, section):
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) in place of the old one in ``readme``,
    or at its end the first time; the rest of the file is kept as it is."""
    text = open(readme).read() if os.path.exists(readme) else '# Benchmarks\n\nRun with `make bench`.\n'
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip('\n') + '\n\n' + section + '\n'
    with open(readme, 'w') as handle:
        handle.write(text)
