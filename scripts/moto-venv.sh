#!/usr/bin/env bash
# Installs moto's server (a third-party AWS emulator, used only as a reference to check our KMS
# emulator against: test/emulator/moto-conformance.test.ts) into a virtualenv under the cache
# directory, once per pinned version. `npm test` runs it before the tests (scripts/test.ts), so a fresh
# clone needs nothing else; the test finds the venv at the same path (scripts/moto-conformance.ts).
#
#   CMK_MOTO_VENV     the venv (default ~/.cache/cmk-operator/venv)
#   CMK_MOTO_VERSION  the moto version (default the one scripts/moto-conformance.ts pins)
#
# Idempotent; concurrent runs are serialised with flock(1) when it is installed. Packages come from pip's
# configured index (PyPI, or PIP_INDEX_URL / pip.conf). Exits non-zero naming what is missing.
set -euo pipefail
MOTO_VERSION="${CMK_MOTO_VERSION:-5.2.5}"
VENV="${CMK_MOTO_VENV:-$HOME/.cache/cmk-operator/venv}"

log() { printf '[moto] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

command -v python3 >/dev/null ||
  fail "python3 is not installed: install Python 3 with its venv module (Debian/Ubuntu: apt-get install python3 python3-venv)"

mkdir -p "$(dirname "$VENV")"
if [ -z "${CMK_MOTO_LOCKED:-}" ] && command -v flock >/dev/null; then
  CMK_MOTO_LOCKED=1 exec flock "$VENV.lock" bash "$0" "$@"
fi

ready() {
  [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null
}

if ready; then
  log "moto $MOTO_VERSION ready in $VENV"
  exit 0
fi
log "installing moto[server]==$MOTO_VERSION into $VENV (once per version; about a minute)"
python3 -m venv "$VENV" ||
  fail "python3 -m venv $VENV did not work: install the venv module (Debian/Ubuntu: apt-get install python3-venv)"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" ||
  fail "pip could not install moto[server]==$MOTO_VERSION (its error is above); check the package index pip uses (PyPI, PIP_INDEX_URL, pip.conf)"
ready || fail "moto $MOTO_VERSION does not import from $VENV/bin/python after the install"
log "moto $MOTO_VERSION installed in $VENV"
