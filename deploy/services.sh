# services.sh — sourced by sh or bash: reads deploy/services.tsv, the one
# table of conveyor's services (name, schema, HTTP port, replay port,
# status). Plain POSIX sh and awk, because its readers run in three images:
# the runtime image's /bin/sh (keys.sh), bash on postgres:15 (provision.sh)
# and the edge's bash; none of them has a YAML or JSON parser, and none
# needs one for five short lines.
#
#   SERVICES_TABLE        the table (default /opt/conveyor/deploy/services.tsv,
#                         where the images keep it; scripts/stack.sh sets the
#                         checkout's deploy/services.tsv)
#   services_rows [STATUS]
#                         prints "name schema http replay status" for every
#                         row (or only those whose status is STATUS: running,
#                         planned); fails, naming the file and line, on a
#                         malformed table: not five columns, a name or schema
#                         that is not lower case, a port out of range or
#                         taken twice (or one of busd's), an unknown status.
#                         Read it whole before using it:
#                             rows=$(services_rows running) || exit 1

SERVICES_TABLE=${SERVICES_TABLE:-/opt/conveyor/deploy/services.tsv}

services_rows() {
    awk -v want="${1:-}" '
    function bad(why) {
        printf "%s:%d: %s\n", FILENAME, FNR, why > "/dev/stderr"
        failed = 1
        exit 1
    }
    function port(p) {
        return p ~ /^[1-9][0-9]*$/ && p + 0 <= 65535
    }
    BEGIN { taken[5550] = "busd"; taken[5551] = "busd"; taken[8080] = "busd" }
    { sub(/#.*/, "") }
    NF == 0 { next }
    NF != 5 { bad("expected 5 columns (name schema http replay status), found " NF) }
    $1 !~ /^[a-z][a-z0-9]*$/ { bad("name \"" $1 "\" is not lower-case letters and digits") }
    $2 !~ /^[a-z][a-z0-9_]*$/ { bad("schema \"" $2 "\" is not a lower-case identifier") }
    !port($3) || !port($4) { bad("ports \"" $3 "\" and \"" $4 "\" must be numbers from 1 to 65535") }
    $5 != "running" && $5 != "planned" { bad("status \"" $5 "\" is neither running nor planned") }
    $1 in names { bad("service " $1 " is listed twice") }
    $2 in schemas { bad("schema " $2 " belongs to " schemas[$2] " already") }
    $3 in taken { bad("port " $3 " belongs to " taken[$3] " already") }
    $4 in taken || $4 == $3 { bad("port " $4 " belongs to " ($4 == $3 ? $1 : taken[$4]) " already") }
    {
        names[$1] = 1
        schemas[$2] = $1
        taken[$3] = $1
        taken[$4] = $1
    }
    want == "" || $5 == want { print $1, $2, $3, $4, $5 }
    END { if (failed) exit 1 }
    ' "$SERVICES_TABLE"
}
