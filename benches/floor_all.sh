#!/bin/sh
# Runs a workload's floor.sh against every host of a tend-lab inventory at once (one ssh
# session per host, all in parallel); fails when any host's script fails.
# usage: floor_all.sh WORKLOAD_DIR LAB_DIR
wl=$1; export LAB_DIR=$2
pids=
while read -r name rest; do
  ip=
  for kv in $rest; do case $kv in ansible_host=*) ip=${kv#ansible_host=} ;; esac; done
  [ -n "$ip" ] || continue
  "$wl/floor.sh" "$ip" "$name" & pids="$pids $!"
done < "$LAB_DIR/inventory.ini"
rc=0
for p in $pids; do wait "$p" || rc=1; done
exit $rc
