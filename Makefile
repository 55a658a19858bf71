# axon - one Makefile. nn/, io/, comm/ build as static libraries that both
# the trainer (bin/axon) and the tests link. nn/ needs no MPI. The trainer
# (all of trainer/ but main.c) is a library too, and comm/single is comm.h
# for one process without MPI, so tests/trainer run the loop without mpirun.
#
#   make            build bin/axon and the tests
#   make run        install deps if missing, build, short training on 2 ranks
#   make test       install deps if missing, build, run every test
#   make SANITIZE=address,undefined test   the same under ASan + UBSan
#   make bench      benchmarks (scripts/bench)

CC      ?= cc
OPT     ?= -O2
SANITIZE ?=

BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
MPI_CFLAGS  := $(shell mpicc -showme:compile 2>/dev/null)
MPI_LIBS    := $(shell mpicc -showme:link 2>/dev/null)

CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra -Werror -MMD -MP -I. \
           -D_POSIX_C_SOURCE=200809L $(BLAS_CFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(EXTRA_LDFLAGS)

ifneq ($(SANITIZE),)
BUILD   := build/san
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
else
BUILD   := build/rel
endif

BIN     := $(BUILD)/bin
AXON    := $(BIN)/axon

NN_SRC   := $(wildcard nn/*.c)
IO_SRC   := $(wildcard io/*.c)
COMM_SRC := $(wildcard comm/*.c)
COMM1_SRC := $(wildcard comm/single/*.c)
ENV_SRC  := $(wildcard envs/*.c)
TR_SRC   := $(wildcard trainer/*.c)
TR_LIB_SRC := $(filter-out trainer/main.c,$(TR_SRC))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_NN   := $(BUILD)/lib/libaxon_nn.a
LIB_IO   := $(BUILD)/lib/libaxon_io.a
LIB_COMM := $(BUILD)/lib/libaxon_comm.a
LIB_COMM1 := $(BUILD)/lib/libaxon_comm_single.a
LIB_TR   := $(BUILD)/lib/libaxon_trainer.a
LIB_ENV  := $(BUILD)/lib/libaxon_envs.a

# Unit tests: one CUnit program per file. tests/nn: no MPI; tests/io: io+nn;
# tests/comm: run under mpirun by scripts/run-tests.
T_NN   := $(patsubst tests/nn/%.c,$(BIN)/tests/nn_%,$(wildcard tests/nn/test_*.c))
T_IO   := $(patsubst tests/io/%.c,$(BIN)/tests/io_%,$(wildcard tests/io/test_*.c))
T_COMM := $(patsubst tests/comm/%.c,$(BIN)/tests/comm_%,$(wildcard tests/comm/test_*.c))
T_ENV  := $(patsubst tests/envs/%.c,$(BIN)/tests/envs_%,$(wildcard tests/envs/test_*.c))
T_TR   := $(patsubst tests/trainer/%.c,$(BIN)/tests/trainer_%,$(wildcard tests/trainer/test_*.c))
T_TOOL := $(patsubst tests/tools/%.c,$(BIN)/tests/%,$(wildcard tests/tools/*.c))
TESTS  := $(T_NN) $(T_ENV) $(T_IO) $(T_COMM) $(T_TR) $(T_TOOL)

SYS_LIBS := $(BLAS_LIBS) -lyaml -lz -lm -lpthread

.PHONY: all build tests run test test-unit deps clean bench
# Object files of test programs are intermediates of a pattern chain; keep
# them, so a second make does not rebuild every test.
.SECONDARY:
all: build
build: $(AXON) $(TESTS)
ifeq ($(BUILD),build/rel)
	@mkdir -p bin && ln -sfn ../$(BIN)/axon bin/axon
endif

$(BUILD)/obj/comm/single/%.o: comm/single/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/comm/%.o: comm/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -c $< -o $@
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# sqrtf need not set errno in the optimizer, so gcc can vectorise Adam's
# square root (nn/optim.c); no value changes.
$(BUILD)/obj/nn/optim.o: CFLAGS += -fno-math-errno

$(LIB_NN): $(call obj,$(NN_SRC))
$(LIB_IO): $(call obj,$(IO_SRC))
$(LIB_COMM): $(call obj,$(COMM_SRC))
$(LIB_COMM1): $(call obj,$(COMM1_SRC))
$(LIB_TR): $(call obj,$(TR_LIB_SRC))
$(LIB_ENV): $(call obj,$(ENV_SRC))
$(LIB_NN) $(LIB_IO) $(LIB_COMM) $(LIB_COMM1) $(LIB_TR) $(LIB_ENV):
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(AXON): $(BUILD)/obj/trainer/main.o $(LIB_TR) $(LIB_ENV) $(LIB_IO) $(LIB_NN) $(LIB_COMM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(MPI_LIBS) $(SYS_LIBS)

$(BIN)/tests/nn_%: $(BUILD)/obj/tests/nn/%.o $(BUILD)/obj/tests/cu.o $(LIB_NN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcunit $(BLAS_LIBS) -lz -lm
$(BIN)/tests/envs_%: $(BUILD)/obj/tests/envs/%.o $(BUILD)/obj/tests/cu.o $(LIB_ENV) $(LIB_NN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcunit $(BLAS_LIBS) -lz -lm
$(BIN)/tests/io_%: $(BUILD)/obj/tests/io/%.o $(BUILD)/obj/tests/cu.o $(LIB_IO) $(LIB_NN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcunit $(SYS_LIBS)
$(BIN)/tests/trainer_%: $(BUILD)/obj/tests/trainer/%.o $(BUILD)/obj/tests/cu.o $(LIB_TR) $(LIB_ENV) $(LIB_IO) $(LIB_NN) $(LIB_COMM1)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcunit $(SYS_LIBS)
$(BUILD)/obj/tests/comm/%.o: tests/comm/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -c $< -o $@
$(BIN)/tests/comm_%: $(BUILD)/obj/tests/comm/%.o $(BUILD)/obj/tests/cu.o $(LIB_COMM) $(LIB_NN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcunit $(MPI_LIBS) $(SYS_LIBS)
$(BIN)/tests/%: $(BUILD)/obj/tests/tools/%.o $(LIB_IO) $(LIB_NN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYS_LIBS)

deps:
	@bash scripts/install-deps.sh

# The two commands of the README.
run: deps
	@$(MAKE) --no-print-directory build
	bash scripts/run-default.sh

test: deps
	@$(MAKE) --no-print-directory build
	BUILD=$(BUILD) bash scripts/run-tests.sh

# Unit tests only (no integration scripts), e.g. for the sanitizer build.
test-unit: deps
	@$(MAKE) --no-print-directory build
	BUILD=$(BUILD) UNIT_ONLY=1 bash scripts/run-tests.sh

bench: deps
	@$(MAKE) --no-print-directory build
	BUILD=$(BUILD) bash scripts/bench

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# A real one-node SLURM cluster in a temp dir runs the slurm/ batch scripts.
.PHONY: slurm-test
slurm-test: deps
	@$(MAKE) --no-print-directory build
	BUILD=$(BUILD) bash scripts/slurm-test.sh

# Benchmark programs, built by scripts/bench (make bench-progs). Each links
# the libraries with MPI; bench_step also the trainer's objects but main.o.
BENCH := $(patsubst tests/bench/%.c,$(BIN)/bench/%,$(wildcard tests/bench/bench_*.c))
.PHONY: bench-progs
bench-progs: $(BENCH)
$(BUILD)/obj/tests/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -c $< -o $@
$(BIN)/bench/bench_step: $(LIB_TR) $(LIB_ENV)
$(BIN)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB_IO) $(LIB_NN) $(LIB_COMM)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(filter $(LIB_TR),$^) \
	    $(filter-out $(LIB_TR),$(filter %.a,$^)) $(MPI_LIBS) $(SYS_LIBS)

# Two ranks on two "hosts" (network namespaces), Open MPI over TCP.
.PHONY: multihost-test
multihost-test: deps
	@$(MAKE) --no-print-directory build
	BUILD=$(BUILD) bash tests/multihost/test_netns.sh
