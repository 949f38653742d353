#!/bin/sh
# step.sh SCOPE NAME COMMAND...: run a step for make, recording a failure
# when it stops early without recording one (see step() in lib.sh).
. "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || die "usage: step.sh SCOPE NAME COMMAND..."
step "$@"
