#!/usr/bin/env bash
# Entry point of the load test: builds tend and tend-lab (release) unless --tend is given,
# installs GNU time and OpenSSH when missing, then runs benches/load.py with its options.
# usage: benches/load.sh [--hosts 200] [--runs 5] [--tasks 100] [--forks 200] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null || need+=(openssh-client)
if ((${#need[@]})); then
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ " $* " != *" --tend "* && " $* " != *" --tend="* ]]; then
  cargo build --release -q -p tend -p tend-lab
fi
exec python3 benches/load.py "$@"
