#!/usr/bin/env bash
# Create the virtualenv with Python 3.10 and install the project into it.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

python=$(scripts/find-python.sh)
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
  echo "creating $venv with $python"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
echo "installing dependencies (pinned in constraints.txt)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check wheel==0.45.1
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
