#!/usr/bin/env bash
# What tests/test_docker.py needs to build and run the image here: podman (with runc, as the
# test's containers.conf asks) and debootstrap (the local Debian base image). Idempotent and
# quick when present; never fails the caller: without podman the docker test skips and says so.
set -u
missing=()
for tool in podman runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-podman: ${missing[*]} missing and apt-get is not usable; the docker test will skip" >&2
  exit 0
fi
log=$(mktemp)
echo "install-podman: installing ${missing[*]} (apt-get)" >&2
if ! { apt-get -o DPkg::Lock::Timeout=300 update -q &&
       DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
         --no-install-recommends podman runc debootstrap; } >"$log" 2>&1; then
  echo "install-podman: apt-get failed (the docker test will skip or fail and say why):" >&2
  tail -n 5 "$log" >&2
fi
rm -f "$log"
exit 0
