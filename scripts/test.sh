#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the lab hosts need (OpenSSH server
# and client, sudo, python3, and the tools the module cases drive: cron, curl, git, archivers,
# pip, python3-apt, dpkg-dev, gnupg) and ansible-core with the `ansible` collections in a venv
# for the conformance tests, then runs every unit, snapshot, lab integration and conformance
# test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# get_url/uri run curl on the hosts; git and unarchive's xz/bz2 archives need their tools.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v git >/dev/null 2>&1 || need+=(git)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v bzip2 >/dev/null 2>&1 || need+=(bzip2)
command -v zip >/dev/null 2>&1 || need+=(zip)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
# The pip case builds wheels and a venv on the hosts with the system python.
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
/usr/bin/python3 -c 'import setuptools, wheel' >/dev/null 2>&1 || need+=(python3-setuptools python3-wheel)
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v crontab >/dev/null 2>&1 || need+=(cron)
# The apt cases: Ansible's apt module needs python3-apt on the host; the local repository
# they build needs dpkg-scanpackages.
/usr/bin/python3 -c 'import apt' >/dev/null 2>&1 || need+=(python3-apt)
[ -x /usr/bin/dpkg-scanpackages ] || need+=(dpkg-dev)
# The apt_key case: apt-key drives gpg.
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
# The conformance tests compare tend with ansible-playbook from a venv (ansible-core from
# PyPI); lab hosts run Ansible's modules with this machine's /usr/bin/python3.
# TEND_ANSIBLE_PLAYBOOK, if set, names an ansible-playbook to use instead.
venv="${TEND_ANSIBLE_VENV:-target/ansible-venv}"
[ -x /usr/bin/python3 ] || need+=(python3)
if [ -z "${TEND_ANSIBLE_PLAYBOOK:-}" ] && [ ! -x "$venv/bin/ansible-playbook" ]; then
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
fi
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

if [ -z "${TEND_ANSIBLE_PLAYBOOK:-}" ] && [ ! -x "$venv/bin/ansible-playbook" ]; then
  echo "creating $venv with ansible-core"
  # On failure the conformance tests say why: skipped with a notice locally, failed under CI.
  { python3 -m venv --clear "$venv" &&
    "$venv/bin/python" -m pip install -q --disable-pip-version-check 'ansible-core>=2.17,<2.20' 'ansible>=10,<13' passlib; } ||
    echo "warning: could not install ansible-core into $venv" >&2
fi
if [ -z "${TEND_ANSIBLE_PLAYBOOK:-}" ] && [ -x "$venv/bin/ansible-playbook" ]; then
  # Ansible needs passlib for `password_hash` and `vars_prompt: encrypt` (tend does not).
  "$venv/bin/python" -c 'import passlib' >/dev/null 2>&1 ||
    "$venv/bin/python" -m pip install -q --disable-pip-version-check passlib ||
    echo "warning: could not install passlib into $venv" >&2
  # The `ansible` package brings the collections (ansible.posix, community.general) whose
  # modules tend also provides (authorized_key, ini_file, sysctl, ...).
  "$venv/bin/python" -c 'import ansible_collections.ansible.posix' >/dev/null 2>&1 ||
    "$venv/bin/python" -m pip install -q --disable-pip-version-check 'ansible-core>=2.17,<2.20' 'ansible>=10,<13' ||
    echo "warning: could not install the ansible collections into $venv" >&2
  TEND_ANSIBLE_PLAYBOOK="$(cd "$venv/bin" && pwd)/ansible-playbook"
  export TEND_ANSIBLE_PLAYBOOK
fi

# The SSH transport's own tests skip without sshd; here it is installed, so they must run.
export TEND_REQUIRE_SSHD=1
cargo test --workspace --no-fail-fast "$@"
