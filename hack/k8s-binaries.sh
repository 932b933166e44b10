#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests and the demo need (kube-apiserver, etcd, kubectl, and on
# request kube-controller-manager, kube-scheduler and kwok for the simulated cluster of test/e2e)
# from Go modules, because setup-envtest cannot download here. Output goes to a cache outside the clone, keyed by version, so a second run costs
# seconds:  ${XDG_CACHE_HOME:-$HOME/.cache}/heimdall-operator/k8s/<version>/
#
# Usage: hack/k8s-binaries.sh [binary...]   (default: kube-apiserver etcd kubectl)
# Prints the directory holding the binaries on its last line (use it as KUBEBUILDER_ASSETS).
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.5}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CACHE_ROOT="${HEIMDALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/heimdall-operator}"
OUT="$CACHE_ROOT/k8s/$K8S_VERSION"
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=(kube-apiserver etcd kubectl)

mkdir -p "$OUT"
log() { echo "k8s-binaries: $*" >&2; }

# The wrapper module pins k8s.io/kubernetes and maps each staging module (which kubernetes' own
# go.mod replaces with ./staging/...) to its published v0.x twin.
k8s_wrapper() {
  local dir="$CACHE_ROOT/src/kubernetes-$K8S_VERSION"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    local gomod
    gomod="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
    local staging_version="v0.${K8S_VERSION#*.}"
    {
      echo "module heimdall.local/k8s-binaries"
      echo
      echo "go 1.26.0"
      echo
      echo "require k8s.io/kubernetes v$K8S_VERSION"
      echo
      grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
    } >"$dir/go.mod"
    cat >"$dir/tools.go" <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
    (cd "$dir" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
    (cd "$dir" && GOFLAGS=-mod=mod go get "k8s.io/kubernetes@v$K8S_VERSION" >&2)
    touch "$dir/.ready"
  fi
  echo "$dir"
}

# module_wrapper NAME MODULE@VERSION: a wrapper module that pins one module, so that module's own
# go.mod (not ours) picks its dependencies.
module_wrapper() {
  local dir="$CACHE_ROOT/src/$1"
  if [ ! -f "$dir/.ready" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    printf 'module heimdall.local/%s\n\ngo 1.26.0\n' "${1%%-*}" >"$dir/go.mod"
    (cd "$dir" && GOFLAGS=-mod=mod go get "$2" >&2)
    touch "$dir/.ready"
  fi
  echo "$dir"
}

build() {
  local name="$1" dir pkg
  if [ -x "$OUT/$name" ]; then return; fi
  case "$name" in
    etcd) dir="$(module_wrapper "etcd-$ETCD_VERSION" "go.etcd.io/etcd/server/v3@v$ETCD_VERSION")"; pkg="go.etcd.io/etcd/server/v3" ;;
    kwok) dir="$(module_wrapper "kwok-$KWOK_VERSION" "sigs.k8s.io/kwok@v$KWOK_VERSION")"; pkg="sigs.k8s.io/kwok/cmd/kwok" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl)
      dir="$(k8s_wrapper)"; pkg="k8s.io/kubernetes/cmd/$name" ;;
    *) echo "k8s-binaries: unknown binary $name" >&2; exit 2 ;;
  esac
  log "building $name (one-off, cached in $OUT)"
  local start=$SECONDS
  (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$OUT/$name.tmp" "$pkg")
  mv "$OUT/$name.tmp" "$OUT/$name"
  log "built $name in $((SECONDS - start))s"
}

for b in "${WANT[@]}"; do build "$b"; done

# bin/ link in the clone, so tools and people find the binaries without knowing the cache layout.
repo_root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$repo_root/bin"
ln -sfn "$OUT" "$repo_root/bin/k8s"
echo "$OUT"
