#!/usr/bin/env bash
# Builds the zerodrop container image (Dockerfile at the repository root) with docker or podman.
#
#   scripts/build-image.sh                 # tags zerodrop:VERSION and zerodrop:latest
#   IMAGE=ghcr.io/me/zerodrop:1 scripts/build-image.sh
#   ENGINE=podman PLATFORM=linux/arm64 scripts/build-image.sh
#
# Needs a container engine; it is not run in this project's CI (there is no Docker engine
# there: CI builds and checks the static binary itself instead).
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
image=${IMAGE:-zerodrop:$version}
engine=${ENGINE:-}
if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1; then engine=docker
  elif command -v podman >/dev/null 2>&1; then engine=podman
  else echo "build-image: neither docker nor podman is installed (set ENGINE)" >&2; exit 2
  fi
fi

args=(build --tag "$image" --file Dockerfile)
[ -n "${PLATFORM:-}" ] && args+=(--platform "$PLATFORM")
# The Dockerfile's cache mounts need BuildKit (docker) or buildah (podman, built in).
if [ "$engine" = docker ]; then export DOCKER_BUILDKIT=1; fi
echo "build-image: $engine ${args[*]} ."
"$engine" "${args[@]}" .
if [ -z "${IMAGE:-}" ]; then "$engine" tag "$image" zerodrop:latest; fi

# The image must run: zerodrop's version, then the no-cluster demo (exit 0 = zero drops after
# the fix).
"$engine" run --rm "$image" --version
if [ "${SKIP_DEMO:-0}" != 1 ]; then "$engine" run --rm "$image" demo; fi
echo "build-image: built $image"
