#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the lab hosts need (OpenSSH server
# and client, sudo), then runs every unit, snapshot and lab integration test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${need[*]} (install them, or run as root so this script can)" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The SSH transport's own tests skip without sshd; here it is installed, so they must run.
export TEND_REQUIRE_SSHD=1
cargo test --workspace --no-fail-fast "$@"
