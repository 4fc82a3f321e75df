#!/usr/bin/env bash
# Builds kube-apiserver and etcd from Go modules (the envtest approach) into a cache outside the clone,
# keyed by version. Idempotent: returns at once when both binaries are cached.
# Usage: hack/control-plane/build.sh   -> prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=${K8S_VERSION:-1.36.3}
ETCD_VERSION=${ETCD_VERSION:-3.6.14}
cache_root=${LAIO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/logicapp-identity-operator}
bin="$cache_root/control-plane/k8s-v$K8S_VERSION-etcd-v$ETCD_VERSION"
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

timed() { # record wall time and peak RSS of each build next to the binary
  local name=$1; shift
  if command -v /usr/bin/time >/dev/null; then
    /usr/bin/time -v -o "$bin/$name.build-stats" "$@"
  else
    "$@"
  fi
}

if [ ! -x "$bin/etcd" ]; then
  echo ">> building etcd v$ETCD_VERSION into $bin" >&2
  (cd "$here/etcd" && timed etcd go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$bin/etcd.tmp" "$bin/etcd"
fi

if [ ! -x "$bin/kube-apiserver" ]; then
  echo ">> building kube-apiserver v$K8S_VERSION into $bin (first build takes minutes)" >&2
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  ld="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ld="$ld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$here/kube-apiserver" && timed kube-apiserver go build -trimpath -ldflags "$ld" -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
fi
echo "$bin"
