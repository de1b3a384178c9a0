# Offline stand-in for ansible-test's pip bootstrap script (scripts/test.sh installs it).
"""Offline stand-in for ansible-test's get-pip bootstrap script.

Bootstraps pip from the interpreter's bundled ensurepip wheel, then installs the
requested packages with it (using the host's normal pip configuration).
"""
import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
