/*
 * check_submission.h — what every intake door's fuzz target checks once
 * its bytes have become a submission (intake.h).
 *
 * The bus, HTTP JSON and the form webhook all end in intake_validate and
 * the canonical JSON whose hash tells a repeat from a reused key; the
 * promises checked here hold whichever door the submission came through.
 */
#ifndef CONVEYOR_FUZZ_CHECK_SUBMISSION_H
#define CONVEYOR_FUZZ_CHECK_SUBMISSION_H

#include "services/order/submission.h"

/* Validates sub as order_intake does (default_channel fills an empty
 * channel) and checks: the count returned is the problems added, each a
 * {field, code, message} of strings; a clean submission keeps every rule
 * (valid keys, a reachable customer, quantities, discount, channel);
 * validating again changes nothing; the canonical JSON and its hash are
 * stable; and a clean submission's canonical JSON read back through the
 * HTTP door is the same submission (same canonical form, same hash).
 * Aborts on a broken promise. */
void check_submission(submission_t *sub, const char *default_channel);

#endif
