#!/bin/sh
# embed_services.sh — a build tool: turns deploy/services.tsv, the one table
# of conveyor's services, into a C source file for the kit.
#
# A service names itself in its main.c (.name = "inventory"); its schema and
# ports are the table's, the same the local stack, provisioning, the bus keys
# and the edge read, and service_new finds them there by that name
# (common/service_table.h). The Makefile runs
#
#     tools/embed_services.sh deploy/services.tsv > build/gen/service_table.c
#
# and links the output into libcommon. The table is read through
# deploy/services.sh, its one reader, so a malformed table (a missing column,
# a port taken twice) fails the build with that reader's message, naming the
# file and line. The output defines `const service_table_t service_table`.
set -eu
[ $# -eq 1 ] || { echo "usage: embed_services.sh <services.tsv>" >&2; exit 2; }
SERVICES_TABLE=$1
. "$(dirname "$0")/../deploy/services.sh"
rows=$(services_rows) || { echo "embed_services: $SERVICES_TABLE is malformed" >&2; exit 1; }
# names and schemas are lower-case letters, digits and "_" (services.sh
# refuses anything else), so they go into C strings as they are
printf '%s\n' "$rows" | awk -v table="$SERVICES_TABLE" '
BEGIN {
    print "/* Generated from " table " by tools/embed_services.sh: do not edit. */"
    print "#include \"common/service_table.h\"\n"
}
NF == 5 { row[n++] = sprintf("    {\"%s\", \"%s\", %d, %d, %s},", $1, $2, $3, $4, ($5 == "running") ? "true" : "false") }
END {
    if (n == 0) {
        print "const service_table_t service_table = {NULL, 0};"
        exit 0
    }
    print "static const service_row_t service_table_rows[] = {"
    for (i = 0; i < n; i++)
        print row[i]
    print "};"
    print "const service_table_t service_table = {service_table_rows, " n "};"
}'
