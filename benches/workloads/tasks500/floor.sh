#!/bin/sh
# The floor for tasks500/playbook.yml: the same 500 directory checks as ONE hand-written
# idempotent sh script in ONE plain ssh session.
# usage: floor.sh IP NAME   (LAB_DIR: the lab folder holding known_hosts and id_ed25519)
ip=$1; lab=${LAB_DIR:?LAB_DIR must name the lab folder}
exec ssh -o BatchMode=yes -o UserKnownHostsFile="$lab/known_hosts" -i "$lab/id_ed25519" "root@$ip" sh -s <<'SCRIPT'
i=0
while [ $i -lt 500 ]; do
  d=/srv/bench-tasks/d$((i % 10))
  [ -d $d ] || mkdir -p $d; chmod 0755 $d
  i=$((i + 1))
done
SCRIPT
