/*
 * ids.c — new ids and their bank references (ids.h).
 */
#include "services/payment/ids.h"

int ids_new(char id[UUID_TEXT_SIZE], char ref[PAYMENT_REF_SIZE])
{
    if (uuid_v4(id) != 0)
        return -1;
    int n = 0;
    for (const char *c = id; *c && n < PAYMENT_REF_SIZE - 1; c++)
        if (*c != '-')
            ref[n++] = *c;
    ref[n] = '\0';
    return n == PAYMENT_REF_SIZE - 1 ? 0 : -1;
}
