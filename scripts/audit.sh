#!/usr/bin/env bash
# Audit the pinned dependencies (constraints.txt) for known vulnerabilities with pip-audit.
# pip-audit lives in its own venv: it needs packaging>=23 and Rasa 3.6 pins packaging<21.
# Known findings that cannot be fixed (pinned by Rasa 3.6) are listed in scripts/audit-exceptions.txt
# with their reasons and skipped; anything else fails. Where PyPI's vulnerability API cannot be
# reached (a mirror or closed network), the audit says so and is skipped rather than passing silently.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${AUDIT_VENV:-.venv-audit}
PY=$(scripts/find-python.sh)
if [ ! -x "$VENV/bin/pip-audit" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pip-audit==2.10.1 2> >(grep -v "^WARNING: Location" >&2)
fi
probe=$(grep -m1 -i '^requests==' constraints.txt | cut -d= -f3)
if ! curl -sf -o /dev/null --max-time 15 "https://pypi.org/pypi/requests/${probe}/json"; then
  echo "dependency audit SKIPPED: PyPI's per-release vulnerability API (https://pypi.org/pypi/<name>/<version>/json)"
  echo "is not reachable from this network; run 'make audit' where it is."
  exit 0
fi
ignores=()
while read -r id _; do
  [[ -z "$id" || "$id" == \#* ]] && continue
  ignores+=(--ignore-vuln "$id")
done < scripts/audit-exceptions.txt
exec "$VENV/bin/pip-audit" -r constraints.txt --no-deps --disable-pip --strict --progress-spinner off "${ignores[@]}"
