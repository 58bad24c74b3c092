"""One alerts-mode twzrd_health run: executed directly (the cron path) vs ansible-playbook.

Both run the same module with the same arguments on this machine, alternately,
so machine load affects both alike. Reports medians and the ratio.
"""
import json
import os
import sys
import tempfile

from bench.common import COLLECTIONS, ROOT, compare, ensure_collection_link

RUNS = 7


def main():
    ensure_collection_link()
    work = tempfile.mkdtemp(prefix='twzrd-bench-health-')
    module_args = {'mode': 'alerts', 'state_file': os.path.join(work, 'state.json'),
                   'log_file': os.path.join(work, 'alerts.log'), 'pm2_home': os.path.join(work, 'pm2')}
    args_file = os.path.join(work, 'args.json')
    with open(args_file, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
    playbook = os.path.join(work, 'alerts.yml')
    with open(playbook, 'w') as handle:
        handle.write('- hosts: localhost\n  gather_facts: false\n  tasks:\n'
                     '    - twzrd.ops.twzrd_health: %s\n' % json.dumps(module_args))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_LOCAL_TEMP=os.path.join(work, 'tmp'))
    direct = [sys.executable, '-m', 'ansible_collections.twzrd.ops.plugins.modules.twzrd_health', args_file]
    via_playbook = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                    '-c', 'local', '-e', 'ansible_python_interpreter=%s' % sys.executable, playbook]
    medians = compare('direct', direct, 'ansible-playbook', via_playbook, runs=RUNS, env=env, cwd=ROOT)
    (d_wall, d_cpu), (p_wall, p_cpu) = medians['direct'], medians['ansible-playbook']
    print('twzrd_health alerts run, median of %d (wall / CPU seconds):' % RUNS)
    print('  module executed directly : %.3f s / %.3f s' % (d_wall, d_cpu))
    print('  ansible-playbook          : %.3f s / %.3f s' % (p_wall, p_cpu))
    print('  ratio                     : %.1fx wall, %.1fx CPU' % (p_wall / d_wall, p_cpu / d_cpu))
    return 0


if __name__ == '__main__':
    sys.exit(main())
