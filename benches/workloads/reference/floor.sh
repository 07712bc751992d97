#!/bin/sh
# The floor for reference/playbook.yml: all its work for one host as ONE hand-written idempotent
# sh script in ONE plain ssh session (from shared/bench/floor.sh; only change: blockinfile's
# markers are Ansible's, so the final state equals ansible-playbook's).
# usage: floor.sh IP NAME   (LAB_DIR: the lab folder holding known_hosts and id_ed25519)
ip=$1; name=$2; lab=${LAB_DIR:?LAB_DIR must name the lab folder}
exec ssh -o BatchMode=yes -o UserKnownHostsFile="$lab/known_hosts" -i "$lab/id_ed25519" "root@$ip" sh -s -- "$name" <<'SCRIPT'
name=$1; b=/srv/bench; s=/tmp/s.$$; t=/tmp/t.$$
[ -d $b ] || mkdir -p $b; chmod 0755 $b
for i in 1 2 3 4 5; do [ -d $b/conf$i ] || mkdir $b/conf$i; chmod 0750 $b/conf$i; done
for i in 1 2 3 4 5; do printf 'static %s for %s\n' $i "$name" > $s; cmp -s $s $b/conf$i/static.txt || cp $s $b/conf$i/static.txt; chmod 0644 $b/conf$i/static.txt; done
for i in 1 2 3 4 5; do printf '# managed for %s\n[demo]\nport = 8080\nworkers = 4\ndebug = False\n' "$name" > $t; cmp -s $t $b/conf$i/app.conf || cp $t $b/conf$i/app.conf; chmod 0640 $b/conf$i/app.conf; done
for l in a b c d e; do grep -qx "line $l" $b/conf1/static.txt || echo "line $l" >> $b/conf1/static.txt; done
grep -qx '# BEGIN ANSIBLE MANAGED BLOCK' $b/conf2/static.txt || printf '# BEGIN ANSIBLE MANAGED BLOCK\nkey=value\nother=thing\n# END ANSIBLE MANAGED BLOCK\n' >> $b/conf2/static.txt
[ -e $b/marker ] || touch $b/marker
grep -q port $b/conf1/app.conf
[ -e $b/marker ]
for i in 1 2 3 4 5; do [ -L $b/app$i.conf ] || ln -sf $b/conf$i/app.conf $b/app$i.conf; done
rm -f $s $t
SCRIPT
