#!/bin/sh
# The floor for large/playbook.yml: all its work for one host as ONE hand-written idempotent
# sh script in ONE plain ssh session; same final files, contents and modes as the playbook.
# usage: floor.sh IP NAME   (LAB_DIR: the lab folder holding known_hosts and id_ed25519)
ip=$1; name=$2; lab=${LAB_DIR:?LAB_DIR must name the lab folder}
exec ssh -o BatchMode=yes -o UserKnownHostsFile="$lab/known_hosts" -i "$lab/id_ed25519" "root@$ip" sh -s -- "$name" <<'SCRIPT'
set -e
name=$1; b=/srv/bench-large; t=/tmp/floor.$$
# put MODE DEST: install $t as DEST when the content differs, then set the mode
put() { cmp -s $t "$2" || cp $t "$2"; chmod "$1" "$2"; }
[ -d $b ] || mkdir -p $b; chmod 0755 $b
for i in $(seq 1 20); do
  d=$b/d$i
  [ -d $d ] || mkdir $d; chmod 0750 $d
  printf 'dir %s on %s\n' $i "$name" > $t; put 0644 $d/id.txt
  printf '# limits for d%s\nsoft = %s\nhard = %s\n' $i $((i * 100)) $((i * 200)) > $t; put 0600 $d/limits.conf
  if [ $i -le 10 ]; then
    printf 'Welcome to a tend benchmark host.\nUnauthorised access is prohibited.\n' > $t; put 0644 $d/motd
  fi
  printf '# managed for %s (d%s)\n[large]\nport = 8080\nworkers = 4\ndebug = False\nslot = %s\n' "$name" $i $i > $t
  put 0640 $d/app.conf
done
for i in $(seq 1 10); do
  f=$b/d$i/hosts.allow
  for w in alpha beta gamma; do grep -qx "allow $w" $f 2>/dev/null || echo "allow $w" >> $f; done
  chmod 0644 $f
  f=$b/d$i/block.cfg
  grep -qx '# BEGIN ANSIBLE MANAGED BLOCK' $f 2>/dev/null ||
    printf '# BEGIN ANSIBLE MANAGED BLOCK\nkey=%s\nowner=%s\n# END ANSIBLE MANAGED BLOCK\n' $i "$name" >> $f
  chmod 0644 $f
done
for i in $(seq 1 20); do
  [ "$(readlink $b/app$i.conf)" = $b/d$i/app.conf ] || ln -sfn $b/d$i/app.conf $b/app$i.conf
  rm -f $b/d$i/obsolete.tmp
done
n=0
for i in $(seq 1 10); do
  [ -e $b/d$i/.initialized ] || touch $b/d$i/.initialized
  grep -q 'port = 8080' $b/d$i/app.conf
  [ -e $b/d$i/.initialized ] && n=$((n + 1))
done
[ $n -eq 10 ]
rm -f $t
SCRIPT
