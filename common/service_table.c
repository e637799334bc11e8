/*
 * service_table.c — finding a service's row in deploy/services.tsv, built
 * into the kit (service_table.h says why). The table itself is generated
 * (build/gen/service_table.c); this file only reads it.
 */
#include "common/service_table.h"

#include <stdio.h>
#include <string.h>

const service_row_t *service_table_find(const service_table_t *table, const char *name)
{
    if (!table || !name)
        return NULL;
    for (size_t i = 0; i < table->count; i++)
        if (strcmp(table->rows[i].name, name) == 0)
            return &table->rows[i];
    return NULL;
}

int service_table_defaults(const service_table_t *table, const char *name, service_defaults_t *out)
{
    const service_row_t *row = service_table_find(table, name);
    if (!row)
        return -1;
    /* the generator and services.sh keep ports within 1..65535: these fit */
    int http = snprintf(out->http_addr, sizeof out->http_addr, "0.0.0.0:%d", row->http_port);
    int replay =
        snprintf(out->replay_addr, sizeof out->replay_addr, "tcp://0.0.0.0:%d", row->replay_port);
    if (http < 0 || (size_t)http >= sizeof out->http_addr || replay < 0 ||
        (size_t)replay >= sizeof out->replay_addr)
        return -1;
    out->schema = row->schema;
    return 0;
}

int service_table_fill(const service_table_t *table, const char *name, service_defaults_t *storage,
                       const char **schema, const char **http_addr, const char **replay_addr)
{
    if (*schema && *http_addr && *replay_addr)
        return 0;
    if (service_table_defaults(table, name, storage) != 0)
        return -1;
    if (!*schema)
        *schema = storage->schema;
    if (!*http_addr)
        *http_addr = storage->http_addr;
    if (!*replay_addr)
        *replay_addr = storage->replay_addr;
    return 0;
}
