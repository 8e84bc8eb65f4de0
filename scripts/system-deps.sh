#!/usr/bin/env bash
# Install the Debian packages the tests need: chromium (browser tests through
# Playwright; never a downloaded browser build), CJK and emoji fonts for screenshots,
# and PostgreSQL and Redis for the scale-out test (the tests start their own servers).
set -euo pipefail
packages=(chromium fonts-noto-cjk fonts-noto-color-emoji postgresql redis-server)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "error: need root to install ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi
SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
echo "installing ${missing[*]} from Debian"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
