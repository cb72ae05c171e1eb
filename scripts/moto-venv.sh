#!/usr/bin/env bash
# Installs moto's server (a third-party AWS emulator, used only as a reference to check our KMS
# emulator against) into a virtualenv under the cache directory. Idempotent; pinned version.
set -euo pipefail
MOTO_VERSION="${CMK_MOTO_VERSION:-5.2.5}"
VENV="${CMK_MOTO_VENV:-$HOME/.cache/cmk-operator/venv}"
command -v python3 >/dev/null || { echo "python3 is required for the moto conformance test" >&2; exit 1; }
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import moto, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null; then
  echo "moto $MOTO_VERSION ready in $VENV"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
echo "moto $MOTO_VERSION installed in $VENV"
