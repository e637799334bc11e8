/*
 * pgarray.h — PostgreSQL arrays in binary wire format, for bulk statements.
 *
 * Inserting many rows one statement at a time costs a round trip and an
 * executor start per row; `INSERT ... SELECT * FROM unnest($1::uuid[],
 * $2::text[], ...)` inserts them all in one. Building the arrays in the
 * binary format (array_recv's) needs no quoting or escaping of their
 * elements, so any text or bytes go through unchanged. Pass the result with
 * db_param_bytes (binary) and cast the parameter in SQL to the array type.
 */
#ifndef CONVEYOR_PGARRAY_H
#define CONVEYOR_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Element type oids (pg_type.h). */
#define PG_OID_BOOL  16
#define PG_OID_BYTEA 17
#define PG_OID_INT8  20
#define PG_OID_INT4  23
#define PG_OID_TEXT  25
#define PG_OID_UUID  2950

typedef struct {
    uint32_t elem_oid;
    int32_t count;
    bool has_null;
    uint8_t *body; /* the elements: int32 length (-1 for NULL) + bytes, each */
    size_t body_len, body_cap;
    uint8_t *wire; /* header + body, built by pg_array_wire */
    size_t wire_len;
} pg_array_t;

void pg_array_init(pg_array_t *array, uint32_t elem_oid);

/* Empties the array for reuse, keeping its memory. */
void pg_array_reset(pg_array_t *array);

/* Frees its memory; the array is left empty and reusable. */
void pg_array_release(pg_array_t *array);

/* Appends one element: raw bytes in the element type's binary format
 * (NULL bytes: an SQL NULL). 0 ok, -1 out of memory. */
int pg_array_add(pg_array_t *array, const void *bytes, size_t len);
int pg_array_add_text(pg_array_t *array, const char *text); /* NULL: SQL NULL */
int pg_array_add_i64(pg_array_t *array, int64_t value);
int pg_array_add_i32(pg_array_t *array, int32_t value);
int pg_array_add_bool(pg_array_t *array, bool value);
/* uuid_text in canonical form; -1 if it is not a UUID. */
int pg_array_add_uuid(pg_array_t *array, const char *uuid_text);

/* Keeps only the first count elements (drops a half-added row). */
void pg_array_truncate(pg_array_t *array, int32_t count);

/* Walks the elements: the one at byte offset *at of the body (start at
 * 0), *value its bytes (NULL for an SQL NULL) and *len their count; *at
 * moves past it. 1 when one was read, 0 at the end, -1 when the body is
 * damaged there. */
int pg_array_next(const pg_array_t *array, size_t *at, const uint8_t **value, size_t *len);

/* The whole array in wire format, valid until the array changes. -1 on
 * out of memory. */
int pg_array_wire(pg_array_t *array, const uint8_t **bytes_out, size_t *len_out);

#endif
