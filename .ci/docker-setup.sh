#!/usr/bin/env bash
# Make this machine ready for the Docker sandbox tests; idempotent, safe to run every time.
#   1. install docker.io, mmdebstrap and bubblewrap from Debian when missing
#   2. start dockerd when no engine answers
#   3. build the offline base image evolve-base:bookworm (mmdebstrap with this machine's apt
#      sources, then docker import) when absent; no container registry is needed
#   4. build the sandbox image for this checkout when absent (python -m evolve.commands.sandbox build)
# Usage (from anywhere, as root): bash .ci/docker-setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
BASE_IMAGE="${EVOLVE_SANDBOX_BASE:-evolve-base:bookworm}"
log() { echo "[docker-setup] $*"; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v bwrap >/dev/null || missing+=(bubblewrap)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /tmp/dockerd.log)"
  setsid nohup dockerd >/tmp/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up:"; tail -20 /tmp/dockerd.log; exit 1; }
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "building $BASE_IMAGE with mmdebstrap"
  sources=()
  # shellcheck disable=SC1091
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  if [[ "$codename" == bookworm ]]; then  # reuse this machine's mirrors (and its snapshot pins)
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
      [[ -s "$f" ]] && { sources=("$f"); break; }
    done
  fi
  workdir="$(mktemp -d)"
  trap 'rm -rf "$workdir"' EXIT
  mmdebstrap --quiet --variant=minbase \
    --include=python3-minimal,python3-venv,libpython3.11-stdlib \
    bookworm "$workdir/base.tar" "${sources[@]}"
  docker import -m "evolve sandbox base: Debian bookworm minbase + python3.11" "$workdir/base.tar" "$BASE_IMAGE" >/dev/null
fi

"$PYTHON" -m evolve.commands.sandbox build --base "$BASE_IMAGE" --if-absent
"$PYTHON" -m evolve.commands.sandbox clean --images >/dev/null  # older builds of this machine's checkouts
log "ready: $("$PYTHON" -c 'from evolve.executors.docker_image import image_tag; print(image_tag())')"
