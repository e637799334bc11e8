/*
 * fuzz_bank_notice.c — the bank notifications the payment service will
 * take from outside (services/payment/adapters/): Sberbank's checksummed
 * callback (sberbank_callback_parse, over bankcall_form_parse) and
 * YooKassa's webhook body (yookassa_webhook_parse), before any network.
 *
 * Input: a first line naming the bank ("sberbank" or "yookassa"), then the
 * callback's query string or the webhook's body. Checks: a believed
 * callback names its order, our reference, an operation and an event id
 * beginning "sberbank:<mdOrder>:"; a refusal leaves the notice empty; the
 * same parameters signed with the key (checksum computed here and
 * appended) are never refused for their checksum, and with one digit of
 * that checksum changed always are; a parsed webhook is a payment or a
 * refund event with an id, and its claimed amount, when read, prints back
 * to the same kopecks.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "services/payment/adapters/bankcall.h"
#include "services/payment/adapters/sberbank.h"
#include "services/payment/adapters/yookassa.h"
#include "tests/fuzz/fuzz.h"

#define KEY "fuzz-callback-key"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_object_seed(1);
    return 0;
}

static bool empty_notice(const acq_notice_t *notice)
{
    return notice->event_id[0] == '\0' && notice->bank_id[0] == '\0' &&
           notice->reference[0] == '\0';
}

static void check_sberbank(const char *text, size_t len)
{
    acq_notice_t notice;
    acq_error_t err;
    acq_result_t result = sberbank_callback_parse(KEY, text, len, &notice, &err);
    FUZZ_CHECK(result == ACQ_DONE || result == ACQ_REJECTED);
    if (result == ACQ_REJECTED) {
        FUZZ_CHECK(empty_notice(&notice));
        FUZZ_CHECK(err.code[0] != '\0');
    } else {
        FUZZ_CHECK(notice.bank_id[0] && notice.reference[0] && notice.operation[0]);
        FUZZ_CHECK(strncmp(notice.event_id, "sberbank:", 9) == 0);
        FUZZ_CHECK(strncmp(notice.event_id + 9, notice.bank_id, strlen(notice.bank_id)) == 0);
        FUZZ_CHECK(notice.amount_minor >= -1);
    }

    /* the same parameters, signed here: the checksum is never what is wrong */
    bankcall_form_t form;
    if (bankcall_form_parse(text, len, &form) != 0)
        return;
    bool has_checksum = bankcall_form_get(&form, "checksum") != NULL;
    FUZZ_CHECK(form.count <= BANKCALL_FORM_PAIRS);
    bankcall_form_release(&form);
    char checksum[65];
    if (has_checksum || sberbank_callback_checksum(KEY, text, len, checksum) != 0)
        return;
    size_t signed_size = len + 80;
    char *signed_text = malloc(signed_size);
    FUZZ_CHECK(signed_text != NULL);
    memcpy(signed_text, text, len);
    int n = snprintf(signed_text + len, signed_size - len, "&checksum=%s", checksum);
    FUZZ_CHECK(n > 0);
    size_t signed_len = len + (size_t)n;
    result = sberbank_callback_parse(KEY, signed_text, signed_len, &notice, &err);
    if (signed_len <= BANKCALL_FORM_MAX)
        FUZZ_CHECK(result == ACQ_DONE ||
                   (strcmp(err.code, "bad_checksum") != 0 && strcmp(err.code, "no_checksum") != 0));
    signed_text[signed_len - 1] = signed_text[signed_len - 1] == '0' ? '1' : '0';
    result = sberbank_callback_parse(KEY, signed_text, signed_len, &notice, &err);
    FUZZ_CHECK(result == ACQ_REJECTED);
    free(signed_text);
}

static void check_yookassa(const char *text, size_t len)
{
    acq_notice_t notice;
    yookassa_claim_t claim;
    acq_error_t err;
    acq_result_t result = yookassa_webhook_parse(text, len, &notice, &claim, &err);
    FUZZ_CHECK(result == ACQ_DONE || result == ACQ_REJECTED);
    if (result == ACQ_REJECTED) {
        FUZZ_CHECK(empty_notice(&notice));
        return;
    }
    FUZZ_CHECK(strncmp(notice.event_id, "yookassa:", 9) == 0);
    FUZZ_CHECK(notice.bank_id[0] && claim.status[0]);
    FUZZ_CHECK(notice.kind == ACQ_NOTICE_PAYMENT || notice.refund_id[0]);
    FUZZ_CHECK(strncmp(notice.operation, "payment.", 8) == 0 ||
               strcmp(notice.operation, "refund.succeeded") == 0);
    if (claim.amount_minor >= 0) {
        char printed[32];
        int64_t again = -1;
        yookassa_amount_format(claim.amount_minor, printed, sizeof printed);
        FUZZ_CHECK(yookassa_amount_parse(printed, &again) == 0 && again == claim.amount_minor);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char mode[16];
    const uint8_t *rest = NULL;
    size_t rest_len = 0;
    if (fuzz_split_line(data, size, mode, sizeof mode, &rest, &rest_len) != 0)
        return 0;
    char *text = fuzz_strndup(rest, rest_len);
    if (strcmp(mode, "sberbank") == 0)
        check_sberbank(text, rest_len);
    else if (strcmp(mode, "yookassa") == 0)
        check_yookassa(text, rest_len);
    free(text);
    return 0;
}
