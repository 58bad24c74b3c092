"""Run every benchmark module in bench/ (bench_*.py) one after another.

`python -m bench` runs them all; `python -m bench health db` only those whose
name contains one of the words. Each module has a main() that prints its
numbers as ratios against a baseline measured in the same run.
"""
import importlib
import os
import pkgutil
import sys


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    names = sorted(name for _finder, name, _pkg in pkgutil.iter_modules([here]) if name.startswith('bench_'))
    if argv:
        names = [name for name in names if any(word in name for word in argv)]
    failed = []
    for name in names:
        print('=== %s ===' % name, flush=True)
        module = importlib.import_module('bench.%s' % name)
        if module.main() not in (None, 0):
            failed.append(name)
    if failed:
        print('benchmarks that missed their target: %s' % ', '.join(failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
