#!/bin/sh
# An old-style module: its arguments file holds key=value words for sh to source.
. "$1"
printf '{"changed": false, "who": "%s", "count": %s, "spaced": "%s", "check": "%s"}\n' \
  "$who" "$count" "$spaced" "$_ansible_check_mode"
