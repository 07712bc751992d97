#!/usr/bin/env bash
# Entry point of the benchmark: builds tend and tend-lab (release), makes the venv with
# ansible-core, pyinfra and matplotlib if missing, then runs benches/bench.py with its options.
# usage: benches/bench.sh [--smoke] [--hosts 4,50,200] [--runs 5] [--workload all] ... (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --venv) venv=${args[i + 1]} ;;
    --venv=*) venv=${args[i]#--venv=} ;;
  esac
done
# GNU time measures peak RSS; the lab needs sshd, the floor ssh.
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
if ! "$venv/bin/python" -c 'import ansible, pyinfra, matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'ansible-core<2.20' pyinfra matplotlib
fi
exec "$venv/bin/python" benches/bench.py "$@"
