/*
 * check_import.h — what the import targets (CSV and JSON) check once a
 * body has been read into an import (services/inventory/import.h).
 */
#ifndef CONVEYOR_FUZZ_CHECK_IMPORT_H
#define CONVEYOR_FUZZ_CHECK_IMPORT_H

#include "services/inventory/import.h"

/* Checks what import_parse_* promised, given its result and how many
 * problems there were before: the result is the number of problems added
 * (0: none), every problem is {field, code, message} (a "line", when it
 * has one, counts from 1), rows stay under IMPORT_ROWS_MAX with labels and lines, a clean
 * import names a valid SKU on every row and no SKU twice. Then checks the
 * rows against a small fixed catalogue as the import transaction does:
 * import_check_catalogue counts the problems it adds. */
void check_import(import_t *import, int parsed, problems_t *problems, size_t problems_before);

#endif
