#!/usr/bin/env bash
# Builds a STAND-IN for AWS's Lambda base image public.ecr.aws/lambda/python:3.13-arm64, for a
# machine that cannot pull container images. Test scaffolding for tests/sam_local: with Docker and
# internet you never need it, since `sam local invoke` pulls AWS's image.
#
# What it is: Debian trixie (its python3.13) for arm64, made by debootstrap, plus awslambdaric and
# boto3 from PyPI in /var/runtime, and start-up files in the shape of AWS's image (files/). On an
# x86_64 host it runs under qemu-user-static (binfmt_misc). The image is tagged
# file-pipeline/standin-lambda-python:3.13-arm64, never with AWS's name; tests/sam_local passes it
# to SAM with --invoke-image.
#
# Usage: bash scripts/standin-lambda-image/build.sh [--rebuild]
#   Reuses the image when one built from this same recipe exists (building takes 5 to 8 minutes,
#   most of them debootstrap's emulated second stage); --rebuild builds it anyway.
# Needs: root, debootstrap, a running dockerd, binfmt_misc with qemu-aarch64 (flag F) on a
# non-arm64 host, a Debian mirror (MIRROR), PyPI, and python3.13 (PYTHON313, default: the one the
# Makefile finds) to compile the runtime's .pyc files with the same bytecode as trixie's 3.13.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGE=${STANDIN_IMAGE:-file-pipeline/standin-lambda-python:3.13-arm64}
# SAM layers its emulator on the base image as <repository>:rapid-<arch> and reuses that image
# while it exists, so it must go whenever the base changes.
RAPID_IMAGE=${IMAGE%:*}:rapid-arm64
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
RUNTIME_PACKAGES=(awslambdaric==4.2.2 boto3==1.44.8)
PYTHON313=${PYTHON313:-$(make -C "$ROOT" --no-print-directory -s print-python313)}

# The recipe's fingerprint, kept as a label: an image from the same recipe is reused.
RECIPE=$( { cat "$HERE/build.sh" "$HERE/Dockerfile"; (cd "$HERE" && find files -type f | sort | xargs cat);
            echo "$SUITE ${RUNTIME_PACKAGES[*]}"; } | sha256sum | cut -c1-16)
LABEL=file-pipeline.standin-recipe

step() { echo "standin-lambda-image: $*"; }
fail() { echo "standin-lambda-image: $*" >&2; exit 1; }

if [ "${1:-}" != --rebuild ] \
   && [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null)" = "$RECIPE" ]; then
  step "reusing $IMAGE (recipe $RECIPE); --rebuild to build it again"
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "debootstrap needs root"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
docker info >/dev/null 2>&1 || fail "no Docker daemon answers (start dockerd)"
[ -n "$PYTHON313" ] && "$PYTHON313" --version >/dev/null 2>&1 || fail "python3.13 not found (set PYTHON313)"
if [ "$(uname -m)" != aarch64 ]; then
  grep -qs '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || fail "arm64 binaries cannot run here: install qemu-user-static and binfmt-support (its qemu-aarch64 handler needs flag F)"
fi

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/standin-lambda-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
CONTEXT=$WORK/context
ROOTFS=$WORK/rootfs
mkdir -p "$CONTEXT/runtime"

step "debootstrap $SUITE arm64 (minbase, python3, ca-certificates): 4 to 6 minutes under qemu"
started=$SECONDS
if ! debootstrap --arch=arm64 --variant=minbase --include=python3,ca-certificates \
     "$SUITE" "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1; then
  tail -20 "$WORK/debootstrap.log" >&2
  fail "debootstrap failed"
fi
step "  done in $((SECONDS - started)) s: $(chroot "$ROOTFS" /usr/bin/python3 --version)"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
# AWS's image has its python at /var/lang/bin; SAM's debug entrypoints use that path.
mkdir -p "$ROOTFS/var/lang/bin" "$ROOTFS/var/task" "$ROOTFS/opt"
ln -s /usr/bin/python3.13 "$ROOTFS/var/lang/bin/python3.13"
ln -s python3.13 "$ROOTFS/var/lang/bin/python3"
tar -C "$ROOTFS" --numeric-owner -cf "$CONTEXT/rootfs.tar" .

step "runtime packages from PyPI for cp313 manylinux aarch64: ${RUNTIME_PACKAGES[*]}"
# Installed from the host with the target's wheels (no pip under emulation), then compiled here:
# under qemu, compiling botocore at every cold start costs about 10 s. unchecked-hash: the
# image's files never change, so Python need not compare them with their sources.
if ! "$PYTHON313" -m pip install --quiet --no-compile --root-user-action=ignore --target "$CONTEXT/runtime" \
     --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.13 --implementation cp \
     "${RUNTIME_PACKAGES[@]}" > "$WORK/pip.log" 2>&1; then
  cat "$WORK/pip.log" >&2
  fail "pip install failed"
fi
rm -rf "$CONTEXT/runtime/bin"
"$PYTHON313" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$CONTEXT/runtime" > /dev/null

cp -a "$HERE/Dockerfile" "$HERE/files" "$CONTEXT/"
OLD_ID=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
# The legacy builder records --platform for a FROM scratch image; `docker import --platform` on
# Debian's dockerd 20.10 labels it with the host's architecture instead.
step "docker build $IMAGE"
if ! DOCKER_BUILDKIT=0 docker build --platform linux/arm64 --label "$LABEL=$RECIPE" \
     --label "org.opencontainers.image.description=Stand-in for public.ecr.aws/lambda/python:3.13-arm64 (Debian $SUITE + PyPI), test scaffolding" \
     -t "$IMAGE" "$CONTEXT" > "$WORK/docker-build.log" 2>&1; then
  cat "$WORK/docker-build.log" >&2
  fail "docker build failed"
fi
docker image rm "$RAPID_IMAGE" > /dev/null 2>&1 || true
NEW_ID=$(docker image inspect -f '{{.Id}}' "$IMAGE")
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then docker image rm "$OLD_ID" > /dev/null 2>&1 || true; fi

runs=$(docker run --rm --platform linux/arm64 --entrypoint /var/lang/bin/python3.13 "$IMAGE" -c '
import platform, sys
sys.path.append("/var/runtime")
import awslambdaric, boto3
print(f"Python {platform.python_version()} on {platform.machine()}, awslambdaric {awslambdaric.__version__}, boto3 {boto3.__version__}")')
step "$IMAGE runs $runs"
step "built in $((SECONDS - started)) s (recipe $RECIPE)"
