#!/usr/bin/env bash
# Builds the local control plane's binaries from the Go module proxy at pinned
# versions, into a cache outside the repository. Rebuilds only when a pin changes.
#
#   deploy/local/build-binaries.sh            -> prints the bin directory on stdout
#
# Pins live in deploy/local/versions.env (one place).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

command -v go >/dev/null 2>&1 || {
  echo "edgeorch: 'go' (>= 1.25) is needed to build the local control plane; install Go from https://go.dev/dl or your distribution (apt-get install golang-go)" >&2
  exit 3
}

cache="${EDGEORCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeorch}"
tag="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"
bin="$cache/bin/$tag"
work="$cache/build/$tag"
mkdir -p "$bin" "$work"

log() { printf 'edgeorch build: %s\n' "$*" >&2; }

need=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [ -x "$bin/$b" ] || need+=("$b")
done
if [ ${#need[@]} -eq 0 ]; then echo "$bin"; exit 0; fi
log "building ${need[*]} into $bin (cold build takes several minutes)"

export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

build_k8s() {
  local d="$work/kubernetes"
  mkdir -p "$d"
  local minor="${K8S_VERSION#v1.}"           # 35.4
  local staging_ver="v0.${minor}"            # v0.35.4
  # The list of staging modules comes from k8s.io/kubernetes's own go.mod.
  local modfile="$d/kubernetes.go.mod"
  if [ ! -s "$modfile" ]; then
    (cd "$d" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" >/dev/null)
    cp "$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${K8S_VERSION}.mod" "$modfile"
  fi
  {
    echo "module edgeorch.local/k8sbuild"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+\s*=>\s*\./staging/' "$modfile" \
      | awk -v v="$staging_ver" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } > "$d/go.mod"
  [ -f "$d/tools.go" ] || printf 'package k8sbuild\n' > "$d/tools.go"
  local major="${K8S_VERSION#v}"; major="${major%%.*}"
  local ldf="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=${major} -X k8s.io/component-base/version.gitMinor=${minor%%.*} -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"
  local pkgs=()
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$bin/$b" ] || pkgs+=("k8s.io/kubernetes/cmd/$b")
  done
  [ ${#pkgs[@]} -eq 0 ] && return 0
  (cd "$d" && go mod download k8s.io/kubernetes && go build -trimpath -ldflags "$ldf" -o "$bin/" "${pkgs[@]}")
}

build_etcd() {
  [ -x "$bin/etcd" ] && return 0
  local d="$work/etcd"
  mkdir -p "$d"
  cat > "$d/go.mod" <<MOD
module edgeorch.local/etcdbuild

go 1.25.0

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
MOD
  [ -f "$d/tools.go" ] || printf 'package etcdbuild\n' > "$d/tools.go"
  (cd "$d" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  [ -x "$bin/kwok" ] && return 0
  GOBIN="$bin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}"
}

build_etcd
build_kwok
build_k8s
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok; do
  [ -x "$bin/$b" ] || { log "missing $b after build"; exit 1; }
done
log "done: $bin"
echo "$bin"
