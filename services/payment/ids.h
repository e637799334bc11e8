/*
 * ids.h — new invoice and refund ids, and the reference a bank knows each
 * by. The reference is the id's 32 hex digits (Sberbank's orderNumber
 * takes at most 32 characters; YooKassa's Idempotence-Key at most 64), so
 * one value serves both banks and names exactly one row of ours.
 */
#ifndef PAYMENT_IDS_H
#define PAYMENT_IDS_H

#include "common/uuid.h"

#define PAYMENT_REF_SIZE 33 /* 32 hex digits + NUL */

/* A fresh id and its reference. 0 ok, -1 when no randomness was had. */
int ids_new(char id[UUID_TEXT_SIZE], char ref[PAYMENT_REF_SIZE]);

#endif
