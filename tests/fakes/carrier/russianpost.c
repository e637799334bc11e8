/*
 * russianpost.c — the fake carrier's Russian Post tracking
 * (../shared/notes/external-apis.md, "Russian Post tracking"): SOAP 1.2
 * getOperationHistory at POST /rtm34, so that the shipping service's
 * Russian Post adapter is tested against a server. A parcel's history is
 * the tracking events of the label with that tracking number (AC, IT, DE,
 * EX, AT as OperType 1, 8, 2, 5, 12; NY and the rest leave no record); an
 * unknown barcode has an empty history. The password must be the fake's
 * API key (FAKE_CARRIER_API_KEY), else an AuthorizationFault. Faults for
 * op "russianpost.history": kind auth_fault, history_fault, or http.
 */
#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"
#include "tests/fakes/carrier/fakecarrier.h"

static const char envelope_head[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<S:Envelope xmlns:S=\"http://www.w3.org/2003/05/soap-envelope\"><S:Body>";
static const char envelope_tail[] = "</S:Body></S:Envelope>";

/* The text of the first <[prefix:]name>…</ in body, at most size - 1 bytes. */
static void field_of(const char *body, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    char open[64];
    snprintf(open, sizeof open, ":%s>", name);
    const char *p = strstr(body, open);
    if (!p) {
        snprintf(open, sizeof open, "<%s>", name);
        p = strstr(body, open);
    }
    if (!p)
        return;
    p += strlen(open);
    const char *end = strchr(p, '<');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void answer_fault(http_response_t *res, const char *detail, const char *text)
{
    char body[1024];
    snprintf(body, sizeof body,
             "%s<S:Fault><S:Code><S:Value>S:Sender</S:Value></S:Code><S:Reason>"
             "<S:Text xml:lang=\"en\">%s</S:Text></S:Reason><S:Detail>"
             "<ns3:%s xmlns:ns3=\"http://russianpost.org/operationhistory/data\">%s</ns3:%s>"
             "</S:Detail></S:Fault>%s",
             envelope_head, text, detail, text, detail, envelope_tail);
    http_res_text(res, 500, "application/soap+xml; charset=utf-8", body);
}

static int oper_type_of(const char *code)
{
    static const struct {
        const char *code;
        int id;
    } types[] = {{"AC", 1}, {"IT", 8}, {"DE", 2}, {"EX", 5}, {"AT", 12}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].code, code) == 0)
            return types[i].id;
    return 0;
}

static void on_history(const http_request_t *req, http_response_t *res, void *arg)
{
    fc_t *fake = arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    pthread_mutex_lock(&fake->lock);
    int64_t latency_ms = fake->config.latency_ms;
    pthread_mutex_unlock(&fake->lock);
    fc_pause_ms(latency_ms);
    pthread_mutex_lock(&fake->lock);
    fc_record(fake, "russianpost.history", req);
    fc_fault_t fault;
    bool armed = fc_fault_take(fake, "russianpost.history", &fault);
    pthread_mutex_unlock(&fake->lock);
    char barcode[48], password[128];
    field_of(body ? body : "", "Barcode", barcode, sizeof barcode);
    field_of(body ? body : "", "password", password, sizeof password);
    if (armed && strcmp(fault.kind, "http") == 0) {
        http_res_text(res, fault.http_status, "text/plain", "the post failed\n");
        return;
    }
    if ((armed && strcmp(fault.kind, "auth_fault") == 0) ||
        strcmp(password, fake->config.api_key) != 0) {
        answer_fault(res, "AuthorizationFault", "Authorization failed");
        return;
    }
    if ((armed && strcmp(fault.kind, "history_fault") == 0) || !barcode[0]) {
        answer_fault(res, "OperationHistoryFault", "Barcode is invalid");
        return;
    }
    strbuf_t out;
    strbuf_init(&out, 256 * 1024);
    strbuf_append_str(&out, envelope_head);
    strbuf_append_str(&out, "<ns7:getOperationHistoryResponse "
                            "xmlns:ns3=\"http://russianpost.org/operationhistory/data\" "
                            "xmlns:ns7=\"http://russianpost.org/operationhistory\">"
                            "<ns3:OperationHistoryData>");
    pthread_mutex_lock(&fake->lock);
    const fc_label_t *label = fc_label_by_tracking(fake, barcode);
    for (size_t i = 0; label && i < label->event_count; i++) {
        const fc_event_t *event = &label->events[i];
        int id = oper_type_of(event->status_code);
        if (!id)
            continue;
        char when[40];
        fc_time_text(event->at_ms, when, sizeof when);
        strbuf_appendf(&out,
                       "<ns3:historyRecord><ns3:AddressParameters><ns3:OperationAddress>"
                       "<ns3:Index>101000</ns3:Index><ns3:Description>Moscow</ns3:Description>"
                       "</ns3:OperationAddress></ns3:AddressParameters><ns3:OperationParameters>"
                       "<ns3:OperType><ns3:Id>%d</ns3:Id><ns3:Name>%s</ns3:Name></ns3:OperType>"
                       "<ns3:OperAttr><ns3:Id>1</ns3:Id><ns3:Name>-</ns3:Name></ns3:OperAttr>"
                       "<ns3:OperDate>%s</ns3:OperDate></ns3:OperationParameters>"
                       "</ns3:historyRecord>",
                       id, event->status_code, when);
    }
    pthread_mutex_unlock(&fake->lock);
    strbuf_append_str(&out, "</ns3:OperationHistoryData></ns7:getOperationHistoryResponse>");
    strbuf_append_str(&out, envelope_tail);
    http_res_text(res, 200, "application/soap+xml; charset=utf-8", out.ptr ? out.ptr : "");
    strbuf_release(&out);
}

int fc_russianpost_routes(http_server_t *server, fc_t *fake)
{
    return http_route(server, "POST", "/rtm34", on_history, fake);
}
