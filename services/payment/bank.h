/*
 * bank.h — the store's acquiring bank, one client per thread.
 *
 * An acquirer_t (adapters/acquirer.h) is used by one thread at a time, and
 * both the job workers (bank calls) and the HTTP workers (verifying a
 * webhook, which for YooKassa means asking the bank) need one; each thread
 * gets its own on first use, made from the service's settings, and it
 * lives until the thread ends.
 */
#ifndef PAYMENT_BANK_H
#define PAYMENT_BANK_H

#include "services/payment/adapters/acquirer.h"
#include "services/payment/payment.h"

/* Prepares the per-thread clients (once, before any thread asks). 0 ok,
 * -1 out of memory. */
int bank_init(payment_app_t *app);

/* This thread's client of the store's bank; NULL (logged) when it cannot
 * be made. Borrowed: the thread's until it ends. */
acquirer_t *bank_client(payment_app_t *app);

#endif
