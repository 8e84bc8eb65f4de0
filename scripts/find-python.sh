#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter, or explain how to get one.
# Looks at $PYTHON, then python3.10 on PATH, then pyenv, then ~/.pyenv.
set -u

is_310() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }

candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
if command -v pyenv >/dev/null 2>&1; then
  for version in 3.10.13 3.10; do
    prefix=$(pyenv prefix "$version" 2>/dev/null) && candidates+=("$prefix/bin/python")
  done
fi
for dir in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*; do
  [ -x "$dir/bin/python" ] && candidates+=("$dir/bin/python")
done

for python in "${candidates[@]}"; do
  if is_310 "$python"; then
    echo "$python"
    exit 0
  fi
done

cat >&2 <<'MSG'
error: Python 3.10 was not found (Rasa 3.6 supports Python 3.8-3.10; this project pins 3.10).
Install it and run again, for example:
  - Debian/Ubuntu: apt-get install python3.10 python3.10-venv
  - pyenv:         pyenv install 3.10.13
or point PYTHON at an interpreter: make run PYTHON=/path/to/python3.10
MSG
exit 1
