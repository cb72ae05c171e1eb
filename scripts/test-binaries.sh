#!/usr/bin/env bash
# Builds the upstream binaries the tests need (kube-apiserver, kubectl, etcd, helm, kubeconform,
# promtool) from the Go module proxy into a cache under $HOME, once per pinned version.
#
# Honours the envtest convention first: when KUBEBUILDER_ASSETS names a directory that already holds
# kube-apiserver and etcd, nothing is built for those two.
#
# Prints the cache directory on its last line. Exits non-zero, naming what failed, on any error.
set -euo pipefail

K8S_VERSION="${CMK_K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${CMK_ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${CMK_HELM_VERSION:-v3.22.0}"
KUBECONFORM_VERSION="${CMK_KUBECONFORM_VERSION:-v0.7.0}"
# The github.com/prometheus/prometheus module version that promtool is built from.
PROMETHEUS_VERSION="${CMK_PROMETHEUS_VERSION:-v0.316.0}"

CACHE_ROOT="${CMK_BIN_CACHE:-$HOME/.cache/cmk-operator}"
BIN_DIR="$CACHE_ROOT/bin/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_kubeconform-${KUBECONFORM_VERSION}"
mkdir -p "$BIN_DIR"

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
export GOMODCACHE="${GOMODCACHE:-$HOME/go/pkg/mod}"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"

log() { printf '[test-binaries] %s\n' "$*" >&2; }
have() { [ -x "$BIN_DIR/$1" ]; }

command -v go >/dev/null || { log "go is not installed: install Go 1.24+ to build the test binaries"; exit 1; }

build_kubernetes() {
  local work minor gomod
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  log "building kube-apiserver and kubectl $K8S_VERSION (cold: about 10 minutes)"
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || { log "could not download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"; return 1; }
  {
    echo "module cmk-operator.local/k8sbuild"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    # Every staging module replaced in the release's own go.mod points at the published tag.
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
      | awk -v v="v0.${K8S_VERSION#v1.}" '{print "replace " $1 " => " $1 " " v}'
  } >"$work/go.mod"
  local pkg="k8s.io/component-base/version" cpkg="k8s.io/client-go/pkg/version"
  local ld="-s -w"
  for p in $pkg $cpkg; do
    ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$BIN_DIR/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$BIN_DIR/kubectl" k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  log "building etcd $ETCD_VERSION"
  printf 'module cmk-operator.local/etcdbuild\ngo 1.24\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$work/go.mod"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$BIN_DIR/etcd" go.etcd.io/etcd/server/v3)
}

go_install() { # name module@version
  log "installing $1 ($2)"
  GOBIN="$BIN_DIR" go install -trimpath -ldflags "-s -w" "$2"
}

assets="${KUBEBUILDER_ASSETS:-}"
if [ -n "$assets" ] && [ -x "$assets/kube-apiserver" ] && [ -x "$assets/etcd" ]; then
  log "using kube-apiserver and etcd from KUBEBUILDER_ASSETS=$assets"
else
  have kube-apiserver && have kubectl || build_kubernetes
  have etcd || build_etcd
fi
have helm || go_install helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
have kubeconform || go_install kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"

# promtool (the alert rule tests) has a directory of its own, keyed by its version and linked into
# BIN_DIR, so adding or moving it never rebuilds the others. Built without the service discovery
# plugins (remove_all_sd), which rule checks and tests never use and which are most of its build.
promtool_dir="$CACHE_ROOT/bin/promtool-$PROMETHEUS_VERSION"
if [ ! -x "$promtool_dir/promtool" ]; then
  log "installing promtool (github.com/prometheus/prometheus $PROMETHEUS_VERSION; cold: several minutes)"
  GOBIN="$promtool_dir" go install -tags remove_all_sd -trimpath -ldflags "-s -w" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION"
fi
ln -sfn "$promtool_dir/promtool" "$BIN_DIR/promtool"

log "binaries ready in $BIN_DIR"
echo "$BIN_DIR"
