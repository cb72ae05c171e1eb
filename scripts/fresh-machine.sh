#!/usr/bin/env bash
# Proves the README's first commands on a fresh machine. Clones HEAD into a temporary folder and runs
# there, with HOME and XDG_CACHE_HOME pointing at empty folders (so npm's, pip's and the project's own
# caches start empty) and the system's PATH (no node_modules/.bin, so npm runs on the system Node):
#   npm ci           its output is clean: the postinstall line saying which Node the project runs on
#                    and that every package's engines fit it, npm's closing line, nothing else (no
#                    EBADENGINE, no `npm warn`, no notices)
#   npm test -- --project emulator test/emulator/moto-conformance.test.ts
#                    the static checks, the test binaries, moto installed into the empty cache by
#                    `npm test` itself, and the moto conformance test passing
#   npm run build:plugin, then the bundle alone in another folder answers `version` with a commit
#
# One cache is reused, on purpose: the test binaries (kube-apiserver, etcd, kubectl, helm, kubeconform
# take about 15 minutes to build cold): CMK_BIN_CACHE points at the cache scripts/test-binaries.sh
# already filled (your CMK_BIN_CACHE, default ~/.cache/cmk-operator). Not moto's venv, nor npm's or
# pip's caches. Each step has a time limit; about 4 minutes in all.
#
#   bash scripts/fresh-machine.sh       (npm run fresh-machine; CI runs it from .ci/run)
#   CMK_FRESH_KEEP=1 keeps the temporary folder for a look afterwards.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bin_cache="${CMK_BIN_CACHE:-$HOME/.cache/cmk-operator}"
work="$(mktemp -d "${TMPDIR:-/tmp}/cmk-fresh.XXXXXX")"
cleanup() { if [ -n "${CMK_FRESH_KEEP:-}" ]; then echo "fresh-machine: kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

say() { printf 'fresh-machine: %s\n' "$*"; }
fail() {
  say "FAILED: $1"
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    say "last lines of $(basename "$2"):"
    tail -n 60 "$2" | sed 's/^/  | /'
  fi
  exit 1
}

commit="$(git -C "$repo" rev-parse --short=12 HEAD)"
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  say "note: uncommitted changes in $repo are not part of this check (it tests HEAD, $commit)"
fi
git clone --quiet "$repo" "$work/repo"
mkdir -p "$work/home" "$work/cache"

# A fresh machine's environment: this one's, less npm's variables (set when run through `npm run`),
# the moto overrides, and node_modules/.bin on PATH.
unset_args=()
while IFS= read -r name; do
  case "$name" in npm_* | NPM_* | CMK_MOTO_* | INIT_CWD | NODE_OPTIONS | VITEST*) unset_args+=(-u "$name") ;; esac
done < <(compgen -e)
path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/\.bin$' | paste -sd: -)"
fresh() {
  (cd "$work/repo" && env "${unset_args[@]}" PATH="$path" HOME="$work/home" XDG_CACHE_HOME="$work/cache" \
    CMK_BIN_CACHE="$bin_cache" "$@")
}

say "testing $commit in $work (HOME and XDG_CACHE_HOME empty; test binaries from $bin_cache)"

# ---- npm ci -------------------------------------------------------------------------------------
log="$work/npm-ci.log"
start=$SECONDS
fresh timeout 600 npm ci >"$log" 2>&1 || fail "npm ci exited non-zero" "$log"
grep -q EBADENGINE "$log" && fail "npm ci printed EBADENGINE warnings" "$log"
grep -qi '^npm warn' "$log" && fail "npm ci printed warnings" "$log"
# Clean means nothing but the postinstall and npm's closing line.
expected='^$|^> cmk-operator@[^ ]+ postinstall$|^> node scripts/postinstall\.ts$|^cmk-operator: |^added [0-9]+ packages in [0-9.]+(ms|s|m|h)$'
if grep -qvE "$expected" "$log"; then
  say "unexpected lines:"
  grep -vE "$expected" "$log" | sed 's/^/  | /'
  fail "npm ci printed more than the postinstall and its closing line" "$log"
fi
grep -q 'cmk-operator: [0-9]* packages installed; every npm script and tool here runs on Node v24' "$log" ||
  fail "npm ci did not print the postinstall line naming Node 24" "$log"
grep -q 'Engines checked against v24[0-9.]*: all fit' "$log" || fail "a package's engines do not fit Node 24" "$log"
grep -q 'cmk-operator: warning' "$log" && fail "the postinstall check warned" "$log"
say "ok  npm ci in $((SECONDS - start))s, $(grep -c '' "$log") lines of output, none a warning:"
sed 's/^/  | /' "$log"

# ---- npm test (bounded): installs moto into the empty cache, runs the conformance test -----------
log="$work/npm-test.log"
start=$SECONDS
fresh timeout 900 npm test -- --project emulator test/emulator/moto-conformance.test.ts >"$log" 2>&1 ||
  fail "npm test exited non-zero" "$log"
grep -q '^\[moto\] installing moto' "$log" || fail "npm test did not install moto" "$log"
venv_python="$work/home/.cache/cmk-operator/venv/bin/python"
moto_version="$("$venv_python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" ||
  fail "no moto in $venv_python after npm test" "$log"
summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)"
[[ "$summary" =~ ^([1-9][0-9]*)\ passed,\ 0\ failed ]] || fail "npm test summary: ${summary:-none}" "$log"
say "ok  npm test in $((SECONDS - start))s: moto $moto_version installed by npm test itself; ${summary/ passed/ tests passed}"

# ---- the plugin bundle, alone --------------------------------------------------------------------
log="$work/plugin.log"
fresh timeout 300 npm run build:plugin -- --out "$work/build/kubectl-cmk.mjs" >"$log" 2>&1 ||
  fail "npm run build:plugin exited non-zero" "$log"
mkdir -p "$work/alone"
cp "$work/build/kubectl-cmk.mjs" "$work/alone/"
version="$(cd "$work/alone" && env "${unset_args[@]}" PATH="$work/repo/node_modules/node/bin:$path" \
  HOME="$work/home" ./kubectl-cmk.mjs version 2>>"$log")" || fail "kubectl-cmk.mjs version failed" "$log"
[[ "$version" == "kubectl-cmk "*"(commit $commit, node v24"* ]] ||
  fail "kubectl-cmk version printed: $version (expected commit $commit, no uncommitted changes)" "$log"
say "ok  plugin bundle alone: $version"
say "all checks passed"
