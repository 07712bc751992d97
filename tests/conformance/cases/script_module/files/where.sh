echo "pwd=$(pwd) args=$*" >> /srv/sc/out/where.log
echo "in $(pwd)"
