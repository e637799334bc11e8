/*
 * pgarray.c — one-dimensional PostgreSQL arrays in binary format (pgarray.h).
 *
 * The format array_recv reads: int32 ndim, int32 flags (1 if any NULL),
 * uint32 element oid, then per dimension int32 length and int32 lower
 * bound, then each element as int32 length (-1: NULL) and its bytes, all
 * integers big-endian. An empty array has ndim 0 and no dimensions.
 */
#include "common/pgarray.h"

#include <stdlib.h>
#include <string.h>

#include "common/uuid.h"

static void put_u32(uint8_t *out, uint32_t value)
{
    out[0] = (uint8_t)(value >> 24);
    out[1] = (uint8_t)(value >> 16);
    out[2] = (uint8_t)(value >> 8);
    out[3] = (uint8_t)value;
}

static void put_u64(uint8_t *out, uint64_t value)
{
    put_u32(out, (uint32_t)(value >> 32));
    put_u32(out + 4, (uint32_t)value);
}

void pg_array_init(pg_array_t *array, uint32_t elem_oid)
{
    memset(array, 0, sizeof *array);
    array->elem_oid = elem_oid;
}

void pg_array_reset(pg_array_t *array)
{
    array->count = 0;
    array->has_null = false;
    array->body_len = 0;
}

void pg_array_release(pg_array_t *array)
{
    free(array->body);
    free(array->wire);
    uint32_t oid = array->elem_oid;
    pg_array_init(array, oid);
}

static int reserve(pg_array_t *array, size_t extra)
{
    if (array->body_len + extra <= array->body_cap)
        return 0;
    size_t cap = array->body_cap ? array->body_cap : 256;
    while (cap < array->body_len + extra)
        cap *= 2;
    uint8_t *grown = realloc(array->body, cap);
    if (!grown)
        return -1;
    array->body = grown;
    array->body_cap = cap;
    return 0;
}

int pg_array_add(pg_array_t *array, const void *bytes, size_t len)
{
    if (array->count == INT32_MAX || len > INT32_MAX || reserve(array, 4 + len) != 0)
        return -1;
    if (!bytes) {
        put_u32(array->body + array->body_len, UINT32_MAX); /* -1 */
        array->body_len += 4;
        array->has_null = true;
    } else {
        put_u32(array->body + array->body_len, (uint32_t)len);
        if (len)
            memcpy(array->body + array->body_len + 4, bytes, len);
        array->body_len += 4 + len;
    }
    array->count++;
    return 0;
}

int pg_array_add_text(pg_array_t *array, const char *text)
{
    return pg_array_add(array, text, text ? strlen(text) : 0);
}

int pg_array_add_i64(pg_array_t *array, int64_t value)
{
    uint8_t bytes[8];
    put_u64(bytes, (uint64_t)value);
    return pg_array_add(array, bytes, sizeof bytes);
}

int pg_array_add_i32(pg_array_t *array, int32_t value)
{
    uint8_t bytes[4];
    put_u32(bytes, (uint32_t)value);
    return pg_array_add(array, bytes, sizeof bytes);
}

int pg_array_add_bool(pg_array_t *array, bool value)
{
    uint8_t byte = value ? 1 : 0;
    return pg_array_add(array, &byte, 1);
}

int pg_array_add_uuid(pg_array_t *array, const char *uuid_text)
{
    uint8_t bytes[16];
    if (!uuid_text)
        return pg_array_add(array, NULL, 0);
    if (uuid_parse(uuid_text, bytes) != 0)
        return -1;
    return pg_array_add(array, bytes, sizeof bytes);
}

static uint32_t get_u32(const uint8_t *in)
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

int pg_array_next(const pg_array_t *array, size_t *at, const uint8_t **value, size_t *len)
{
    if (*at >= array->body_len)
        return 0;
    if (array->body_len - *at < 4)
        return -1;
    uint32_t field = get_u32(array->body + *at);
    if (field == UINT32_MAX) {
        *value = NULL;
        *len = 0;
        *at += 4;
        return 1;
    }
    if (field > INT32_MAX || field > array->body_len - *at - 4)
        return -1;
    *value = array->body + *at + 4;
    *len = field;
    *at += 4 + (size_t)field;
    return 1;
}

void pg_array_truncate(pg_array_t *array, int32_t count)
{
    if (count < 0 || count >= array->count)
        return;
    size_t offset = 0;
    bool has_null = false;
    for (int32_t i = 0; i < count; i++) {
        const uint8_t *value = NULL;
        size_t len = 0;
        if (pg_array_next(array, &offset, &value, &len) != 1)
            break; /* never: the body holds count elements */
        has_null |= value == NULL;
    }
    array->body_len = offset;
    array->count = count;
    array->has_null = has_null;
}

int pg_array_wire(pg_array_t *array, const uint8_t **bytes_out, size_t *len_out)
{
    size_t header = array->count > 0 ? 20 : 12;
    uint8_t *wire = realloc(array->wire, header + array->body_len + 1);
    if (!wire)
        return -1;
    array->wire = wire;
    put_u32(wire, array->count > 0 ? 1 : 0);
    put_u32(wire + 4, array->has_null ? 1 : 0);
    put_u32(wire + 8, array->elem_oid);
    if (array->count > 0) {
        put_u32(wire + 12, (uint32_t)array->count);
        put_u32(wire + 16, 1);
    }
    if (array->body_len)
        memcpy(wire + header, array->body, array->body_len);
    array->wire_len = header + array->body_len;
    *bytes_out = wire;
    *len_out = array->wire_len;
    return 0;
}
