#!/bin/sh
# Creates the file named by $1 with the remaining arguments.
target=$1
shift
printf '%s\n' "$@" > "$target"
echo "made $target"
