# Stand-in for the get-pip.py that ansible-test downloads from a host we cannot
# reach (docs/design.md, "ansible-test offline"). It bootstraps pip from the
# interpreter's own ensurepip, then installs what ansible-test asked for
# (e.g. pip==24.2) from the package index like any other package.
import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
