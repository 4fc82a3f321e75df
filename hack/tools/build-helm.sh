#!/usr/bin/env bash
# Builds helm from Go modules (no registry ships it here) into the tool cache; prints its path.
set -euo pipefail
HELM_VERSION=${HELM_VERSION:-v3.22.0}
cache_root=${LAIO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/logicapp-identity-operator}
bin="$cache_root/tools/helm-$HELM_VERSION"
if [ ! -x "$bin/helm" ]; then
  mkdir -p "$bin"
  echo ">> building helm $HELM_VERSION into $bin" >&2
  GOBIN="$bin" CGO_ENABLED=0 GOTOOLCHAIN=local go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
fi
echo "$bin/helm"
