#!/bin/sh
rm -f /srv/sc/victim && echo removed
