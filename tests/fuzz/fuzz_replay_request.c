/*
 * fuzz_replay_request.c — the frames a stranger sends to a replay port
 * (common/replay.c: replay_request_decode), and the END the server packs
 * from what was decoded.
 *
 * Input: one byte giving the command frame's length, the command frame,
 * then the request frame. Checks: a request is accepted only after the
 * command "REPLAY", within REPLAY_REQUEST_MAX bytes and naming a valid
 * stream, and a refusal leaves nothing to free; the END that echoes an
 * accepted request (its stream and request id, every number at its
 * widest) packs into a small bounded size — the 300-byte stream that
 * smashed a 256-byte stack buffer is refused here.
 */
#include <stdint.h>
#include <string.h>

#include "common/envelope.h"
#include "common/replay.h"
#include "tests/fuzz/fuzz.h"

/* stream name + status + six 64-bit varints + tags, with room to spare */
#define END_PACKED_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *command, *request;
    size_t command_len, request_len;
    fuzz_split(data, size, &command, &command_len, &request, &request_len);

    Conveyor__ReplayRequest *decoded = (Conveyor__ReplayRequest *)(uintptr_t)1;
    replay_request_status_t status =
        replay_request_decode(command, command_len, request, request_len, &decoded);
    FUZZ_CHECK(strcmp(replay_request_status_code(status), "unknown") != 0);
    if (status != REPLAY_REQUEST_OK) {
        FUZZ_CHECK(decoded == NULL);
        return 0;
    }
    FUZZ_CHECK(decoded != NULL);
    FUZZ_CHECK(command_len == strlen(REPLAY_CMD_REQUEST));
    FUZZ_CHECK(request_len <= REPLAY_REQUEST_MAX);
    FUZZ_CHECK(bus_name_ok(decoded->stream));

    /* the server's answer to it, as send_end packs it */
    Conveyor__ReplayEnd end = CONVEYOR__REPLAY_END__INIT;
    end.status = CONVEYOR__REPLAY_END__STATUS__EPOCH_CHANGED;
    end.request_id = decoded->request_id;
    end.stream = decoded->stream;
    end.epoch = UINT64_MAX;
    end.last_sent_seq = decoded->from_seq ? decoded->from_seq - 1 : UINT64_MAX;
    end.head_seq = UINT64_MAX;
    end.purged_through = UINT64_MAX;
    size_t len = conveyor__replay_end__get_packed_size(&end);
    FUZZ_CHECK(len <= END_PACKED_MAX);
    uint8_t packed[END_PACKED_MAX];
    FUZZ_CHECK(conveyor__replay_end__pack(&end, packed) == len);
    Conveyor__ReplayEnd *echoed = conveyor__replay_end__unpack(NULL, len, packed);
    FUZZ_CHECK(echoed != NULL);
    FUZZ_CHECK(strcmp(echoed->stream, decoded->stream) == 0);
    FUZZ_CHECK(echoed->request_id == decoded->request_id);
    conveyor__replay_end__free_unpacked(echoed, NULL);
    conveyor__replay_request__free_unpacked(decoded, NULL);
    return 0;
}
