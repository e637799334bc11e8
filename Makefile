# conveyor — build, test and run the suite.
#
# Everything is built into $(BUILD) (build/ by default, build/asan for the
# sanitizer build): generated protobuf-c code, objects, libcommon.a, the
# service binaries, unit-test binaries and the integration test programs.
# Nothing generated is ever written into the source tree.
#
#   make            build everything
#   make deps       install missing Debian packages (a no-op when all are there)
#   make test       unit + integration tests against real PostgreSQL, Redis, ZeroMQ
#   make check T=db run one module's unit tests (common/tests/test_db.c)
#   make asan       the tests under AddressSanitizer + UBSan
#   make up / down  the local stack in the background / stop it
#   make run        the local stack in the foreground; Ctrl-C stops it all
#   make bench      the figures (benchmarks print, never assert)
#   make bench-peers  the bus beside RabbitMQ and NATS JetStream, same workload (installs them)
#   make fmt        clang-format every C file;  make fmt-check  the CI check
#   make lint       cppcheck + the banned-call grep
#   make programs   the services and the CLI only, no tests (what the image builds)
#   make docker     build the container images (docker-compose.yml, deploy/docker/)
#   make docker-smoke  the containers end to end (tests/docker/smoke.sh; needs an engine)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each; T=form for one

BUILD    ?= build
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
SANITIZE ?=
CC       ?= cc
GEN      := $(BUILD)/gen
OBJ      := $(BUILD)/obj
BIN      := $(BUILD)/bin

PKGS := libzmq libczmq libprotobuf-c libpq hiredis libmicrohttpd jansson libjwt libcurl \
        libsodium libcrypto

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wcast-qual -fno-common -fstack-protector-strong
OPT  := -O2 -g
ifneq ($(SANITIZE),)
OPT  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
# FUZZ=1 (make fuzz, into build/fuzz): clang with libFuzzer's coverage on every
# object. clang also warns where generated protobuf-c initialisers cast away
# const and where a va_list formatter takes its format as a parameter; the
# gcc build keeps those checks.
ifneq ($(FUZZ),)
WARN += -Wno-cast-qual -Wno-format-nonliteral
OPT  := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
        -fno-sanitize-recover=undefined
endif

comma     := ,
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS  := -D_GNU_SOURCE -I. -isystem $(GEN)
CFLAGS    := -std=c11 $(WARN) $(OPT)
LDFLAGS   := $(if $(SANITIZE)$(FUZZ),-fsanitize=address$(comma)undefined)
# libharu (common/pdf.c) ships no pkg-config file in Debian: linked by name
LDLIBS     = $(PKG_LIBS) -lhpdf -lpthread -lm

# --- generated protobuf-c code -------------------------------------------
PROTOS    := $(wildcard proto/conveyor/*.proto)
PB_C      := $(patsubst proto/%.proto,$(GEN)/%.pb-c.c,$(PROTOS))
PB_H      := $(PB_C:.c=.h)

$(GEN)/conveyor/%.pb-c.c $(GEN)/conveyor/%.pb-c.h: proto/conveyor/%.proto
	@mkdir -p $(GEN)
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=proto --c_out=$(GEN) $<

# generated files are kept, not treated as intermediates
.SECONDARY: $(PB_C) $(PB_H)

# --- the migration embedder (a build tool, always built without sanitizers)
EMBED := $(BUILD)/tools/embed_sql
$(EMBED): tools/embed_sql.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=c11 -O1 $(WARN) -o $@ $<

# $(call embed_rule,<output.c>,<symbol>,<set name>,<sql files>)
define embed_rule
$(1): $(4) $(EMBED)
	@mkdir -p $$(dir $$@)
	$(Q)$(EMBED) $(2) $(3) $(4) > $$@.tmp && mv $$@.tmp $$@
endef

# --- objects ---------------------------------------------------------------
$(OBJ)/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(OBJ)/gen/%.o: $(GEN)/%.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -Wno-missing-prototypes -Wno-cast-qual -MMD -MP -c -o $@ $<

# --- common/: the service kit ---------------------------------------------
COMMON_SRC := $(wildcard common/*.c)
KIT_SQL    := $(sort $(wildcard common/migrations/*.sql))
KIT_MIG_C  := $(GEN)/kit_migrations.c
$(eval $(call embed_rule,$(KIT_MIG_C),kit_migrations,kit,$(KIT_SQL)))
# deploy/services.tsv, the one table of services, built in: a service's
# schema and ports by its name (common/service_table.h)
SERVICE_TABLE_C := $(GEN)/service_table.c
$(SERVICE_TABLE_C): deploy/services.tsv deploy/services.sh tools/embed_services.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   $<"
	$(Q)sh tools/embed_services.sh $< > $@.tmp && mv $@.tmp $@
COMMON_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(COMMON_SRC)) \
              $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(KIT_MIG_C) $(SERVICE_TABLE_C))
LIBCOMMON  := $(BUILD)/libcommon.a
$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# --- proto/: the contract — generated messages and the event catalogue ------
# (contract code, not the kit's: adding a producer's events touches only proto/)
CONTRACT_SRC := $(wildcard proto/conveyor/*.c)
CONTRACT_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(CONTRACT_SRC)) $(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$(PB_C))
LIBCONTRACT  := $(BUILD)/libcontract.a
$(LIBCONTRACT): $(CONTRACT_OBJ)
	@mkdir -p $(dir $@)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^
# every program links both; the kit uses the contract's envelope and replay messages
LIBS := $(LIBCOMMON) $(LIBCONTRACT)

# --- services ----------------------------------------------------------------
# a service directory holding a .wip file is skipped (work in progress, never committed);
# so is one without a main.c yet (services/payment holds only its adapters so far)
SERVICES := $(filter-out $(notdir $(patsubst %/.wip,%,$(wildcard services/*/.wip))),\
              $(notdir $(patsubst %/main.c,%,$(wildcard services/*/main.c))))

# $(call program_rule,<name>,<source dir>,<sources>,<migration sql files>)
# A program is its sources + embedded migrations (symbol app_migrations) + libcommon.
define program_rule
$(1)_MIG_C := $(GEN)/$(1)_migrations.c
$$(eval $$(call embed_rule,$$($(1)_MIG_C),app_migrations,$(1),$(4)))
$(1)_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(3)) $$(patsubst $(GEN)/%.c,$(OBJ)/gen/%.o,$$($(1)_MIG_C))
$(BIN)/$(1): $$($(1)_OBJ) $(LIBS)
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
PROGRAMS += $(BIN)/$(1)
endef

$(foreach s,$(SERVICES),$(eval $(call program_rule,$(s),services/$(s),\
  $(wildcard services/$(s)/*.c services/$(s)/adapters/*.c),\
  $(sort $(wildcard services/$(s)/migrations/*.sql)))))

# C++ sources: only services/notification/render.cc, the C face of a
# header-only Mustache library (Debian libkainjow-mustache-dev; render.h)
CXX      ?= c++
CXXFLAGS := -std=c++17 -Wall -Wextra -Werror $(OPT)
$(OBJ)/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	$(Q)$(CXX) $(CPPFLAGS) $(PKG_CFLAGS) $(CXXFLAGS) -MMD -MP -c -o $@ $<
ifneq ($(filter notification,$(SERVICES)),)
NOTIFY_RENDER_OBJ := $(OBJ)/services/notification/render.o
notification_OBJ += $(NOTIFY_RENDER_OBJ)
$(BIN)/notification: $(NOTIFY_RENDER_OBJ)
$(BIN)/notification: LDLIBS += -lstdc++
$(BIN)/test_notification_%: LDLIBS += -lstdc++
$(BIN)/test_notification_mime: $(OBJ)/tests/fuzz/check_rfc2047.o
endif

# --- unit tests of common/ (cmocka) -----------------------------------------
CMOCKA_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)
COMMON_TESTS := $(patsubst common/tests/%.c,$(BIN)/%,$(wildcard common/tests/test_*.c)) \
                $(patsubst proto/tests/%.c,$(BIN)/%,$(wildcard proto/tests/test_*.c))
$(BIN)/test_%: $(OBJ)/common/tests/test_%.o $(LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)
$(BIN)/test_%: $(OBJ)/proto/tests/test_%.o $(LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

# --- unit tests of a service's domain logic: every .c but main.c is linked in
define service_test_rule
$(BIN)/test_$(1)_%: $(OBJ)/services/$(1)/tests/test_%.o \
    $$(filter-out $(OBJ)/services/$(1)/main.o,$$($(1)_OBJ)) $(LIBS)
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS) $$(CMOCKA_LIBS)
SERVICE_TESTS += $(patsubst services/$(1)/tests/test_%.c,$(BIN)/test_$(1)_%,\
  $(wildcard services/$(1)/tests/test_*.c))
endef
$(foreach s,$(SERVICES),$(eval $(call service_test_rule,$(s))))

# --- integration test programs: tests/integration/kit/*.c, one program each,
# sharing the migrations in tests/integration/kit/migrations/.
KIT_PROGS := $(basename $(notdir $(wildcard tests/integration/kit/*.c)))
KITTEST_SQL := $(sort $(wildcard tests/integration/kit/migrations/*.sql))
$(foreach p,$(KIT_PROGS),$(eval $(call program_rule,$(p),tests/integration/kit,\
  tests/integration/kit/$(p).c,$(KITTEST_SQL))))

# --- benchmarks: tests/bench/*.c, one program each ---------------------------
BENCH_PROGS := $(basename $(notdir $(wildcard tests/bench/*.c)))
$(foreach p,$(BENCH_PROGS),$(eval $(call program_rule,$(p),tests/bench,\
  tests/bench/$(p).c,$(KITTEST_SQL))))

# --- make bench-peers: the peers' C clients (tests/bench/peers/), built only
# by that target: librabbitmq and libnats are its packages (scripts/deps.sh --peers)
PEER_OBJ := $(OBJ)/tests/bench/peers/peer.o
$(BIN)/peer_amqp: $(OBJ)/tests/bench/peers/peer_amqp.o $(PEER_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs librabbitmq 2>/dev/null)
$(BIN)/peer_nats: $(OBJ)/tests/bench/peers/peer_nats.o $(PEER_OBJ) $(LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libnats 2>/dev/null)
PEER_PROGRAMS := $(BIN)/peer_amqp $(BIN)/peer_nats

# --- the operator's command-line tool: tools/*.c but the build tool ---------
$(eval $(call program_rule,conveyor,tools,$(filter-out tools/embed_sql.c,$(wildcard tools/*.c)),))

# --- the bank adapters (issue 11), the fake bank and their test program ----
# services/payment/adapters/*.c is an object list: the payment service's
# program_rule will take the same files (services/<svc>/adapters/*.c);
# until then the fake's test program and the fuzz target link them.
ACQUIRER_SRC := $(wildcard services/payment/adapters/*.c)
ACQUIRER_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(ACQUIRER_SRC))
$(eval $(call program_rule,fakebank,tests/fakes/bank,$(wildcard tests/fakes/bank/*.c),))
$(eval $(call program_rule,bankcheck,tests/integration/bank,\
  tests/integration/bank/bankcheck.c $(ACQUIRER_SRC),))
FUZZ_OBJ_bank_notice := $(ACQUIRER_OBJ)

# --- the fake carrier (issue 13): a ShipEngine-style API over loopback ------
# services/shipping/adapters/*.c is an object list until the service's
# program_rule takes the same files; the check program and fuzz target link them.
CARRIER_ADAPTER_SRC := $(wildcard services/shipping/adapters/*.c)
CARRIER_ADAPTER_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(CARRIER_ADAPTER_SRC))
$(eval $(call program_rule,fakecarrier,tests/fakes/carrier,$(wildcard tests/fakes/carrier/*.c),))
$(eval $(call program_rule,carriercheck,tests/integration/carrier,\
  tests/integration/carrier/carriercheck.c $(CARRIER_ADAPTER_SRC),))
FUZZ_OBJ_carrier_webhook := $(CARRIER_ADAPTER_OBJ)
FUZZ_OBJ_russianpost_reply := $(CARRIER_ADAPTER_OBJ)

# --- the notification channels (issue 12), their fakes and test program ----
# services/notification/adapters/*.c is an object list: the notification
# service's program_rule takes the same files; the fakes' test program and
# the fuzz targets link them alone.
NOTIFY_ADAPTER_SRC := $(wildcard services/notification/adapters/*.c)
NOTIFY_ADAPTER_OBJ := $(patsubst %.c,$(OBJ)/%.o,$(NOTIFY_ADAPTER_SRC))
$(eval $(call program_rule,fakesmtp,tests/fakes/smtp,$(wildcard tests/fakes/smtp/*.c),))
$(BIN)/fakesmtp: LDLIBS += -lssl
$(eval $(call program_rule,fakesms,tests/fakes/sms,$(wildcard tests/fakes/sms/*.c),))
$(eval $(call program_rule,faketelegram,tests/fakes/telegram,$(wildcard tests/fakes/telegram/*.c),))
$(eval $(call program_rule,notifycheck,tests/integration/notify,\
  tests/integration/notify/notifycheck.c $(NOTIFY_ADAPTER_SRC),))
# notifyrace: the service's own dispatch, applied on two sessions at once
# (test_notify_waiting_race.sh); every file of it but main.c
$(eval $(call program_rule,notifyrace,tests/integration/notify,\
  tests/integration/notify/notifyrace.c $(filter-out services/notification/main.c,\
  $(wildcard services/notification/*.c services/notification/adapters/*.c)),))
$(BIN)/notifyrace: $(OBJ)/services/notification/render.o
$(BIN)/notifyrace: LDLIBS += -lstdc++
FUZZ_OBJ_smsru_reply    := $(NOTIFY_ADAPTER_OBJ)
FUZZ_OBJ_telegram_reply := $(NOTIFY_ADAPTER_OBJ)
FUZZ_OBJ_rfc2047        := $(NOTIFY_ADAPTER_OBJ) $(OBJ)/tests/fuzz/check_rfc2047.o
FUZZ_OBJ_optout_link    := $(OBJ)/services/notification/optout.o
FUZZ_OBJ_template       := $(OBJ)/services/notification/render.o \
                           $(OBJ)/services/notification/placeholders.o
$(BIN)/fuzz_template: LDLIBS += -lstdc++
$(BIN)/fuzz_template: LDFLAGS += $(if $(FUZZ),-fsanitize-link-c++-runtime)

# --- fuzz targets: tests/fuzz/fuzz_<target>.c (tests/fuzz/README.md) --------
# A target is linked with the objects it exercises (FUZZ_OBJ_<target>; the
# kit's come from libcommon) and either with standalone.c, a main that
# replays files (every build: tests/run.sh replays the corpus and the kept
# crashes), or, under FUZZ=1, with libFuzzer (make fuzz).
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ORDER   := $(addprefix $(OBJ)/,services/order/form.o services/order/submission.o \
                  services/order/phone.o tests/fuzz/check_submission.o)
FUZZ_IMPORT  := $(addprefix $(OBJ)/,services/inventory/csv.o services/inventory/import.o \
                  services/inventory/catalogue.o tests/fuzz/check_import.o)
FUZZ_OBJ_form        := $(FUZZ_ORDER)
FUZZ_OBJ_intake_json := $(FUZZ_ORDER)
FUZZ_OBJ_intake_bus  := $(FUZZ_ORDER)
FUZZ_OBJ_csv_import  := $(FUZZ_IMPORT)
FUZZ_OBJ_import_json := $(FUZZ_IMPORT)
FUZZ_DRIVER  := $(if $(FUZZ),,$(OBJ)/tests/fuzz/standalone.o)
FUZZ_LDFLAGS := $(if $(FUZZ),-fsanitize=fuzzer)
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CXX     ?= clang++

define fuzz_rule
$(BIN)/fuzz_$(1): $(OBJ)/tests/fuzz/fuzz_$(1).o $(FUZZ_OBJ_$(1)) $(FUZZ_DRIVER) $(LIBS)
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$(Q)$$(CC) $$(LDFLAGS) $(FUZZ_LDFLAGS) -o $$@ $$^ $$(LDLIBS)
FUZZ_PROGRAMS += $(BIN)/fuzz_$(1)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

# writes the corpus's binary seeds (payloads, envelopes, replay frames,
# tokens) from its JSON events: run after a proto changes, commit the result
$(BIN)/fuzz-seeds: $(OBJ)/tests/fuzz/make_seeds.o $(LIBS)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- targets ----------------------------------------------------------------
.DEFAULT_GOAL := all
.PHONY: all programs deps test check asan up down run bench bench-peers fmt fmt-check lint clean \
        docker docker-smoke fuzz fuzz-programs fuzz-seeds

all: $(LIBS) $(PROGRAMS) $(COMMON_TESTS) $(SERVICE_TESTS) $(FUZZ_PROGRAMS)

# the fuzz targets alone (make fuzz builds them with FUZZ=1 into build/fuzz)
fuzz-programs: $(FUZZ_PROGRAMS)

# the service binaries and the CLI, without tests or benchmarks: deploy/docker/Dockerfile
programs: $(addprefix $(BIN)/,$(SERVICES) conveyor)

deps:
	@scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh

check: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh --unit-only $(if $(T),--only $(T))

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 all
	@BUILD=build/asan SANITIZE=1 tests/run.sh

up: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/stack.sh up

down:
	@BUILD=$(BUILD) scripts/stack.sh down

run: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/stack.sh run

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/bench/run.sh

bench-peers: deps
	@scripts/deps.sh --peers
	@$(MAKE) --no-print-directory all $(PEER_PROGRAMS)
	@BUILD=$(BUILD) BENCH_SECTIONS=tests/bench/peers/section_peers.sh \
	    BENCH_RESULTS=.run/bench/peers.txt tests/bench/run.sh

C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

fmt:
	clang-format -i $(C_FILES)

fmt-check:
	@clang-format --dry-run --Werror $(C_FILES)

lint:
	@scripts/lint.sh

# containers: docker-compose (v1) or `docker compose` (v2), whichever is installed
COMPOSE ?= $(shell command -v docker-compose >/dev/null 2>&1 && echo docker-compose || echo docker compose)

docker:
	$(COMPOSE) build

docker-smoke: $(BIN)/conveyor
	@COMPOSE="$(COMPOSE)" tests/docker/smoke.sh

# each target for FUZZ_SECONDS over a working copy of its corpus (.run/fuzz/);
# a crash fails the run and names the input (tests/fuzz/run.sh)
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=build/fuzz FUZZ=1 CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) fuzz-programs
	@FUZZ_BIN=build/fuzz/bin FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(T)

fuzz-seeds: $(BIN)/fuzz-seeds
	$(BIN)/fuzz-seeds tests/fuzz/corpus

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
