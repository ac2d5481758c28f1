# shmpipe - one GNU Makefile: all check install uninstall demo clean.
#   make                  library (static + shared), CLI, examples, tests
#   make check            build and run every test (tests/run.sh)
#   make check SANITIZE=1 the same under ASan+UBSan, built in build/asan
#   make demo             the README's main job
#   make install PREFIX=/usr/local DESTDIR=
VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR    ?= $(PREFIX)/share
DOCDIR     ?= $(DATADIR)/doc/shmpipe
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

CC      ?= cc
ifeq ($(origin CC),default)
CC      := cc
endif
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?=
BASE_CFLAGS := -std=c11 $(OPT) $(WARN) -fPIC -fvisibility=hidden -Iinclude -Isrc
LDLIBS  := -lpthread

ifeq ($(SANITIZE),1)
B       := build/asan
BASE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
B       := build
endif

LIB_SRCS  := $(wildcard src/*.c)
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(B)/src/%.o)
STATIC    := $(B)/libshmpipe.a
SHARED    := $(B)/libshmpipe.so.$(VERSION)
SONAME    := libshmpipe.so.$(SOVERSION)
CLI       := $(B)/shmpipe
CLI_SRCS  := $(wildcard tools/*.c)
EXAMPLES  := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))
TEST_PROGS := $(patsubst tests/%.c,$(B)/tests/%,$(filter-out tests/helpers.c,$(wildcard tests/*.c)))
TEST_SCRIPTS := $(filter-out tests/run.sh,$(wildcard tests/*.sh))
MANPAGES  := $(wildcard man/*.[0-9])
# make torture (RELIABILITY.md): programs in tests/torture/, libFuzzer
# targets in tests/fuzz/ (each also built with a plain main that replays
# its corpus: `make check` runs those), TSan programs in tests/tsan/.
TORTURE_PROGS := $(patsubst tests/torture/%.c,$(B)/torture/%,$(wildcard tests/torture/*.c))
FUZZ_NAMES := $(patsubst tests/fuzz/%.c,%,$(filter-out tests/fuzz/replay_main.c,$(wildcard tests/fuzz/*.c)))
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(B)/fuzz/%-replay)
FUZZ_CC    ?= clang
FUZZ_DIR   := build/fuzz-clang
TSAN_DIR   := build/tsan
TSAN_PROGS := $(patsubst tests/tsan/%.c,$(TSAN_DIR)/%,$(wildcard tests/tsan/*.c))
BENCHES   := $(patsubst bench/%.c,$(B)/%,$(filter-out bench/common.c,$(wildcard bench/*.c)))

.PHONY: all lib check install uninstall demo clean deps bench torture fuzz tsan
all: lib $(CLI) $(EXAMPLES) $(TEST_PROGS) $(BENCHES) $(TORTURE_PROGS) $(FUZZ_REPLAY)
lib: $(STATIC) $(SHARED)

$(B)/src/%.o: src/%.c include/shmpipe.h $(wildcard src/*.h) | $(B)/src
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -DSHMPIPE_BUILDING -c -o $@ $<

$(B)/src $(B)/examples $(B)/tests $(B)/tools $(B)/torture $(B)/fuzz $(FUZZ_DIR) $(TSAN_DIR):
	mkdir -p $@

$(STATIC): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJS) src/libshmpipe.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/libshmpipe.map \
		$(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS)
	ln -sf libshmpipe.so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/libshmpipe.so

# Generated at install time, so it names the PREFIX that install was given.
PC_SED := -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  -e 's|@BINDIR@|$(BINDIR)|' -e 's|@DOCDIR@|$(DOCDIR)|'
UNIT      := shmpipe-serve@.service

# The CLI and the programs below link the static library: they run from the
# build tree without LD_LIBRARY_PATH. The shared one is tested by install.sh.
$(CLI): $(CLI_SRCS) $(wildcard tools/*.h) $(STATIC) | $(B)/tools
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itools $(LDFLAGS) -o $@ $(CLI_SRCS) $(STATIC) $(LDLIBS)

$(B)/examples/%: examples/%.c $(STATIC) | $(B)/examples
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)

$(B)/tests/%: tests/%.c tests/helpers.c tests/helpers.h $(STATIC) | $(B)/tests
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< tests/helpers.c $(STATIC) $(LDLIBS)

$(B)/torture/%: tests/torture/%.c tests/helpers.c tests/helpers.h $(STATIC) | $(B)/torture
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< tests/helpers.c $(STATIC) $(LDLIBS)

# A fuzz target with a main() that feeds it every file of its corpus.
$(B)/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay_main.c $(wildcard tests/fuzz/*.h) $(STATIC) | $(B)/fuzz
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< tests/fuzz/replay_main.c $(STATIC) $(LDLIBS)

# The same target under libFuzzer, ASan and UBSan: the library compiled
# in, instrumented. `make fuzz` (clang needed: scripts/deps.sh torture).
$(FUZZ_DIR)/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(LIB_SRCS) $(wildcard src/*.h) include/shmpipe.h | $(FUZZ_DIR)
	$(FUZZ_CC) -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iinclude -Isrc -Itests -DSHMPIPE_BUILDING -o $@ $< $(LIB_SRCS) -lpthread
fuzz: $(FUZZ_NAMES:%=$(FUZZ_DIR)/%)

# Threads sharing one mapping, under ThreadSanitizer: library compiled in.
$(TSAN_DIR)/%: tests/tsan/%.c tests/helpers.c tests/helpers.h $(LIB_SRCS) $(wildcard src/*.h) include/shmpipe.h | $(TSAN_DIR)
	$(CC) -std=c11 -O1 -g -fsanitize=thread -Iinclude -Isrc -Itests -DSHMPIPE_BUILDING \
		-o $@ $< tests/helpers.c $(LIB_SRCS) -lpthread
tsan: $(TSAN_PROGS)

# Every bench links bench/common.c (bench/bench.h): the side-by-side runner.
$(B)/%: bench/%.c bench/common.c bench/bench.h $(STATIC)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Ibench $(LDFLAGS) -o $@ $< bench/common.c $(STATIC) $(LDLIBS) -lm

bench: $(BENCHES) $(CLI)
	@scripts/deps.sh bench
	@B=$(abspath $(B)) bench/run.sh

deps:
	@scripts/deps.sh check

check: deps all
	@BUILD=$(abspath $(B)) SHMPIPE=$(abspath $(CLI)) SANITIZE=$(SANITIZE) \
		tests/run.sh $(TEST_PROGS) $(TEST_SCRIPTS)

# The proofs of RELIABILITY.md, after the unit tests; SOAK=SECONDS makes
# the soak longer, FUZZ_SECONDS each fuzzer's run.
torture: all
	@scripts/deps.sh check torture
	@$(MAKE) --no-print-directory fuzz tsan
	@BUILD=$(abspath $(B)) SHMPIPE=$(abspath $(CLI)) FUZZ=$(abspath $(FUZZ_DIR)) \
		TSAN=$(abspath $(TSAN_DIR)) tests/torture/run.sh

demo: all
	@scripts/deps.sh check
	@B=$(abspath $(B)) examples/bridge_demo.sh
	@B=$(abspath $(B)) examples/pipe_demo.sh
	@B=$(abspath $(B)) examples/demo.sh

install: lib $(CLI)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(COMPLETIONDIR) $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DOCDIR)
	install -m 644 include/shmpipe.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libshmpipe.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libshmpipe.so
	sed $(PC_SED) shmpipe.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/shmpipe.pc
	install -m 755 $(CLI) $(DESTDIR)$(BINDIR)/
	for m in $(MANPAGES); do \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/; done
	install -m 644 dist/bash-completion/shmpipe $(DESTDIR)$(COMPLETIONDIR)/shmpipe
	sed $(PC_SED) dist/systemd/$(UNIT).in > $(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT)
	install -m 644 dist/systemd/shmpipe.sysusers $(DESTDIR)$(SYSUSERSDIR)/shmpipe.conf
	install -m 644 dist/systemd/shmpipe-serve.env.example CHANGELOG.md $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/shmpipe.h $(DESTDIR)$(LIBDIR)/libshmpipe.a \
		$(DESTDIR)$(LIBDIR)/libshmpipe.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libshmpipe.so $(DESTDIR)$(PKGCONFIGDIR)/shmpipe.pc \
		$(DESTDIR)$(BINDIR)/shmpipe $(DESTDIR)$(COMPLETIONDIR)/shmpipe \
		$(DESTDIR)$(SYSTEMDUNITDIR)/$(UNIT) $(DESTDIR)$(SYSUSERSDIR)/shmpipe.conf \
		$(DESTDIR)$(DOCDIR)/shmpipe-serve.env.example $(DESTDIR)$(DOCDIR)/CHANGELOG.md
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	for m in $(MANPAGES); do \
		rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m#man/}; done

clean:
	rm -rf build
