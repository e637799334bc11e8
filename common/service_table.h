/*
 * service_table.h — deploy/services.tsv, built into the kit.
 *
 * The one table of conveyor's services (name, schema, HTTP port, replay
 * port, status) is what the local stack, provisioning, the bus keys and the
 * edge read. The build embeds it too (tools/embed_services.sh writes
 * build/gen/service_table.c from it), so that a service's main.c names only
 * the service (.name = "inventory") and service_new takes its schema and
 * listening addresses from the table's row of that name: a port changed in
 * the table changes everywhere at once. DB_SCHEMA, HTTP_ADDR and
 * REPLAY_ADDR in the environment still override (common/service.c).
 */
#ifndef CONVEYOR_SERVICE_TABLE_H
#define CONVEYOR_SERVICE_TABLE_H

#include <stdbool.h>
#include <stddef.h>

/* One line of the table. */
typedef struct {
    const char *name;   /* the program and its stream: "order" */
    const char *schema; /* the schema it owns: "orders" */
    int http_port;      /* 8081 */
    int replay_port;    /* 5561 */
    bool running;       /* status "running"; false: "planned" */
} service_row_t;

typedef struct {
    const service_row_t *rows;
    size_t count;
} service_table_t;

/* deploy/services.tsv as it was when the kit was built. */
extern const service_table_t service_table;

/* The row named name, or NULL when there is none (or name is NULL).
 * Borrowed from the table. */
const service_row_t *service_table_find(const service_table_t *table, const char *name);

/* What a row gives a service that names no schema and no ports: the
 * schema, and its addresses on every interface. */
typedef struct {
    const char *schema;   /* borrowed from the table */
    char http_addr[32];   /* "0.0.0.0:<http>" */
    char replay_addr[48]; /* "tcp://0.0.0.0:<replay>" */
} service_defaults_t;

/* Fills out from the row named name: 0, or -1 when the table has no such
 * row. */
int service_table_defaults(const service_table_t *table, const char *name, service_defaults_t *out);

/* What service_new does with a service_def_t: whichever of *schema,
 * *http_addr and *replay_addr is NULL is set from the row named name (the
 * addresses written into storage, which must live as long as they are
 * used); those already set are kept, and the table is not consulted when
 * none is NULL. 0, or -1 (nothing changed) when one is NULL and the table
 * has no row of that name. */
int service_table_fill(const service_table_t *table, const char *name, service_defaults_t *storage,
                       const char **schema, const char **http_addr, const char **replay_addr);

#endif
