# permwatch: GNU Makefile. `make`, `make check`, `make run`, `make install`, `make deb`, `make clean`.
# A fresh Debian 12 machine needs nothing else: `make check` and `make run` install the
# Debian packages they need (as root) before building.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
SITE       ?=
CC         ?= cc

# Debian packages: what building, testing and running need.
DEPS_BUILD := gcc make pkg-config libsystemd-dev libev-dev libinih-dev libacl1-dev libjansson-dev libbsd-dev
DEPS_TEST  := libcriterion-dev php-cli systemd util-linux acl passwd findutils clang-format valgrind groff-base \
              inotify-tools procps systemd-container debootstrap zstd prometheus iproute2 curl jq
DEPS_RUN   := systemd
# `make fuzz` only (make check replays the corpora with gcc)
DEPS_FUZZ  := clang libclang-rt-14-dev
# `make deb` / `make check-deb`: dpkg-buildpackage, debhelper, lintian (Rules-Requires-Root: no,
# so no fakeroot).
DEPS_DEB   := build-essential dpkg-dev debhelper lintian
# `make bench` / bench/run only: the peers permwatch is measured against, and what the runner uses
# (a package the mirror lacks is named in the output and skipped).
DEPS_BENCH := findutils bfs fd-find inotify-tools watchman procps util-linux systemd

# pkg-config module:Debian package of each library; libev has no .pc file (checked by a
# compile of <ev.h>). `make` checks them first (build-deps-check) and names what is missing.
PKG_CONFIG ?= pkg-config
PKG_DEBS   := libsystemd:libsystemd-dev inih:libinih-dev jansson:libjansson-dev libacl:libacl1-dev \
              libbsd:libbsd-dev
PKGS       := $(foreach m,$(PKG_DEBS),$(firstword $(subst :, ,$(m))))
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lev
TEST_LIBS  := $(shell $(PKG_CONFIG) --libs criterion 2>/dev/null || echo -lcriterion)

# `make install` (PREFIX=/usr/local: systemd, journalctl --update-catalog and systemd-sysusers
# read /usr/local/lib too). debian/rules: PREFIX=/usr UNITDIR=/lib/systemd/system.
UNITDIR       ?= $(PREFIX)/lib/systemd/system
CATALOGDIR    ?= $(PREFIX)/lib/systemd/catalog
SYSUSERSDIR   ?= $(PREFIX)/lib/sysusers.d
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
MANDIR        ?= $(PREFIX)/share/man
DOCDIR        ?= $(PREFIX)/share/doc/permwatch
# systemd/fanotify.conf, the drop-in that lets the units run the fanotify backend
# (CAP_SYS_ADMIN, the fanotify system calls): FANOTIFY=example (the default) installs it as
# $(DOCDIR)/examples/fanotify.conf for the operator to enable; FANOTIFY=default installs it as
# a vendor drop-in of both services ($(UNITDIR)/permwatchd.service.d/, permwatchd@.service.d/).
FANOTIFY      ?= example
# Every unit in systemd/ (service, socket, template); every man page in packaging/.
UNITS         := $(notdir $(wildcard systemd/*.service systemd/*.socket systemd/*.timer))
MANPAGES      := $(wildcard packaging/*.[158])

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wvla -Wno-unused-parameter
HARDEN   := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection -fPIE
OPT      ?= -O2 -g
CFLAGS   ?=
CPPFLAGS := -D_GNU_SOURCE -DPERMWATCH_VERSION='"$(VERSION)"' -Idaemon $(PKG_CFLAGS)
ALL_CFLAGS = -std=gnu17 $(OPT) $(WARN) $(HARDEN) $(CFLAGS)
LDFLAGS  ?=
ALL_LDFLAGS = -pie -Wl,-z,relro -Wl,-z,now -Wl,--as-needed $(LDFLAGS)

# Every module but the two programs' mains links into the tests.
MAINS    := daemon/main.c daemon/ctl.c
LIB_SRC  := $(filter-out $(MAINS),$(wildcard daemon/*.c))
LIB_OBJ  := $(LIB_SRC:daemon/%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
HARNESS  := $(patsubst tests/%.c,$(BUILD)/obj/%.o,$(wildcard tests/harness*.c))
# Small programs the tests run (tests/helper_*.c), one file each.
HELPER_SRC := $(wildcard tests/helper_*.c)
HELPER_BIN := $(HELPER_SRC:tests/%.c=$(BUILD)/tests/%)
# libFuzzer targets (tests/fuzz_*.c): `make fuzz` builds them with clang; `make check` replays
# their corpora (tests/corpus/TARGET/) through gcc builds with tests/fuzz_replay.c's main.
FUZZ_TARGETS := $(filter-out fuzz_replay,$(patsubst tests/%.c,%,$(wildcard tests/fuzz_*.c)))
FUZZ_REPLAY  := $(FUZZ_TARGETS:%=$(BUILD)/tests/%_replay)

.PHONY: all deps deps-test check check-unit check-asan check-valgrind check-format format run \
        demo install uninstall clean check-prom check-fleet bench fuzz fuzz-build fuzz-merge build-deps-check deb check-deb

all: $(BUILD)/permwatchd $(BUILD)/permwatchctl

$(BUILD)/obj/%.o: daemon/%.c | $(BUILD)/obj
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/harness.o: tests/harness.c | $(BUILD)/obj
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -c -o $@ $<

$(BUILD)/obj/harness_%.o: tests/harness_%.c | $(BUILD)/obj
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -c -o $@ $<

$(BUILD)/libpermwatch.a: $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/permwatchd: $(BUILD)/obj/main.o $(BUILD)/libpermwatch.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/permwatchctl: $(BUILD)/obj/ctl.o $(BUILD)/libpermwatch.a
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: tests/%.c $(HARNESS) $(BUILD)/libpermwatch.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -Wno-missing-prototypes -Wno-format-truncation $(ALL_LDFLAGS) -o $@ $< \
	    $(HARNESS) $(BUILD)/libpermwatch.a $(PKG_LIBS) $(TEST_LIBS)

# A fuzz target with the corpus-replaying main (gcc; no libFuzzer needed).
$(BUILD)/tests/fuzz_%_replay: tests/fuzz_%.c tests/fuzz_replay.c $(BUILD)/libpermwatch.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< tests/fuzz_replay.c \
	    $(BUILD)/libpermwatch.a $(PKG_LIBS)

# Helpers may use the daemon's modules (--as-needed drops what one does not use).
$(BUILD)/tests/helper_%: tests/helper_%.c $(BUILD)/libpermwatch.a | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< \
	    $(BUILD)/libpermwatch.a $(PKG_LIBS)

# Every compile needs one of these directories first, so the dependency check runs before any
# compiler does (once per make run).
$(BUILD)/obj $(BUILD)/tests: | build-deps-check
	mkdir -p $@

-include $(wildcard $(BUILD)/obj/*.d)

# --- dependencies -------------------------------------------------------------------------
# build-deps-check: the build dependencies, through pkg-config and a compile of <ev.h>; names
# the Debian packages that are missing instead of a compiler error. Installs nothing.
build-deps-check:
	@missing=; command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing=pkg-config; \
	for m in $(PKG_DEBS); do $(PKG_CONFIG) --exists "$${m%%:*}" 2>/dev/null || \
	    missing="$$missing $${m#*:}"; done; \
	if command -v $(firstword $(CC)) >/dev/null 2>&1; then printf '#include <ev.h>\n' | \
	    $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing libev-dev"; \
	else missing="$$missing gcc"; fi; \
	[ -z "$$missing" ] || { missing=$${missing# }; \
	    echo "missing build dependencies: $$missing" >&2; \
	    echo "run \`make deps\` (as root) or: apt-get install $$missing" >&2; exit 1; }

# Installs only what is missing; `apt-get update` runs once, and only when something is.
deps:
	@sh tests/install-deps.sh $(DEPS_BUILD) $(DEPS_RUN)

deps-test:
	@sh tests/install-deps.sh $(DEPS_BUILD) $(DEPS_TEST)

# --- tests --------------------------------------------------------------------------------
# `make check`: install what is missing, build the Debian package (check-deb: the nspawn test
# installs it), build, run every test: unit and integration tests
# against the real kernel and a private real journald, then the same suite under ASan/UBSan,
# valgrind on the daemon, and the formatting check.
check: deps-test
	$(MAKE) check-deb
	$(MAKE) all tests
	$(MAKE) check-unit
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) check-format
	$(MAKE) check-prom

.PHONY: tests
tests: $(TEST_BIN) $(HELPER_BIN) $(FUZZ_REPLAY)

# The live tests run once with the default backend (auto: fanotify as root on this kind of
# machine), then again with LIVE_SECOND_BACKEND (empty: once only, as the ASan pass does).
LIVE_SECOND_BACKEND ?= inotify
check-unit: all tests
	@sh tests/ensure-users.sh
	@PERMWATCH_BUILD=$(abspath $(BUILD)) PERMWATCH_DEB=$(abspath $(DEB)) sh tests/run-tests.sh $(TEST_BIN)
	@if [ -n "$(LIVE_SECOND_BACKEND)" ]; then echo "== live tests again, backend = $(LIVE_SECOND_BACKEND)"; \
	    PERMWATCH_TEST_BACKEND=$(LIVE_SECOND_BACKEND) PERMWATCH_BUILD=$(abspath $(BUILD)) \
	    sh tests/run-tests.sh $(filter $(BUILD)/tests/test_live%,$(TEST_BIN)); fi
	@for t in $(FUZZ_TARGETS); do $(BUILD)/tests/$${t}_replay tests/corpus/$$t || exit 1; done

check-asan:
	$(MAKE) BUILD=build/asan OPT='-O1 -g -fno-omit-frame-pointer' \
	    HARDEN='-fPIE' CFLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all' \
	    LDFLAGS='-fsanitize=address,undefined' LIVE_SECOND_BACKEND= check-unit

check-valgrind: all
	@sh tests/ensure-users.sh
	@PERMWATCH_BUILD=$(abspath $(BUILD)) sh tests/valgrind.sh

check-format:
	@clang-format --dry-run --Werror daemon/*.c daemon/*.h tests/*.c tests/*.h bench/*.c 2>/dev/null \
	    || { echo "clang-format: run 'make format'"; clang-format --dry-run --Werror \
	         daemon/*.c daemon/*.h tests/*.c tests/*.h; exit 1; }
	@echo "format ok"
	@! grep -n '\.timeout *=' tests/*.c || { echo "no Criterion .timeout: it leaks under ASan (see NOTES.md)"; exit 1; }
	@for m in packaging/*.[158]; do out=$$(groff -man -ww -z "$$m" 2>&1); \
	    [ -z "$$out" ] || { echo "$$m: $$out"; exit 1; }; done
	@echo "man pages ok"

# The fleet (issue 15): four nspawn hosts, the journal feed to a central journal-remote and
# Prometheus with the shipped rules (tests/fleet-nspawn.sh, about 25 s; the first run builds the
# cached rootfs-fleet, about a minute). Also part of `make check` (test_fleet_nspawn).
check-fleet: deps-test
	$(MAKE) deb
	$(MAKE) all $(BUILD)/tests/test_fleet_nspawn
	PERMWATCH_BUILD=$(abspath $(BUILD)) PERMWATCH_DEB=$(abspath $(DEB)) $(BUILD)/tests/test_fleet_nspawn

# The Prometheus alert rules: valid (promtool check rules), and each alert fires when it must and
# not when it must not (promtool test rules; promtool comes with Debian's prometheus package).
check-prom:
	@sh tests/install-deps.sh prometheus
	cd packaging/prometheus && promtool check rules permwatch.rules.yml && \
	    promtool test rules permwatch.rules.test.yml
	@for m in $$(grep -v '^ *#' packaging/prometheus/permwatch.rules.yml | \
	    grep -o 'permwatch_[a-z_]*' | sort -u); do \
	    grep -q "$$m[ {]" daemon/commands.c daemon/client.c || \
	    { echo "permwatch.rules.yml: $$m is not a metric of daemon/commands.c or client.c"; exit 1; }; \
	    done; echo "the rules' metrics exist"

format:
	clang-format -i daemon/*.c daemon/*.h tests/*.c tests/*.h bench/*.c

# --- fuzzing (clang, libFuzzer) -----------------------------------------------------------
# `make fuzz`: each target runs FUZZ_SECONDS (default 600) from its committed corpus; new
# inputs go to build/fuzz/corpus/TARGET, crashes to build/fuzz/artifacts/ (add a crasher to
# tests/corpus/TARGET/ as crash-NAME once fixed: make check replays it). `make fuzz-merge`
# minimizes what was found into tests/corpus/ (-merge=1 on edges only, -use_counters=0, which
# keeps each corpus small; crash-* inputs are always kept). tests/TARGET.dict: a dictionary.
# `make fuzz FUZZ_TARGETS=fuzz_glob` picks targets.
FUZZ_SECONDS ?= 600
FUZZ_FLAGS   := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
fuzz-build:
	@sh tests/install-deps.sh $(DEPS_FUZZ)
	$(MAKE) BUILD=build/fuzz CC=clang OPT='-O1 -g -fno-omit-frame-pointer' HARDEN='-fPIE' \
	    CFLAGS='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	        -Wno-gnu-variable-sized-type-not-at-end' \
	    build/fuzz/libpermwatch.a
	@for t in $(FUZZ_TARGETS); do echo "  CLANG build/fuzz/$$t"; \
	    clang $(CPPFLAGS) -std=gnu17 -O1 -g $(WARN) -fPIE $(FUZZ_FLAGS) -pie -o build/fuzz/$$t \
	        tests/$$t.c build/fuzz/libpermwatch.a $(PKG_LIBS) || exit 1; done

fuzz: fuzz-build
	@sh tests/ensure-users.sh
	@for t in $(FUZZ_TARGETS); do mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts; \
	    echo "== $$t: $(FUZZ_SECONDS) s"; \
	    dict=; [ ! -e tests/$$t.dict ] || dict=-dict=tests/$$t.dict; \
	    build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -max_len=65536 -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$t- \
	        $$dict build/fuzz/corpus/$$t tests/corpus/$$t || exit 1; done

fuzz-merge: fuzz-build
	@for t in $(FUZZ_TARGETS); do rm -rf build/fuzz/merged/$$t; mkdir -p build/fuzz/merged/$$t; \
	    build/fuzz/$$t -merge=1 -use_counters=0 build/fuzz/merged/$$t tests/corpus/$$t \
	        build/fuzz/corpus/$$t \
	        || exit 1; for c in tests/corpus/$$t/crash-*; do [ ! -e "$$c" ] || \
	        cp "$$c" build/fuzz/merged/$$t/; done; \
	    rm -rf tests/corpus/$$t && mv build/fuzz/merged/$$t tests/corpus/$$t || exit 1; done

# --- the newcomer's command ---------------------------------------------------------------
# `make run`: with SITE=/path audits that site; without, builds a demo WordPress-like site
# with planted problems under build/demo and audits it.
run: deps
	$(MAKE) all
	@sh tests/run-demo.sh "$(abspath $(BUILD))" "$(SITE)"

# `make bench`: figures, not tests (root): bench/run installs DEPS_BENCH, builds, and writes the
# issue-13 table to bench/results/RESULT-<date>.txt/.md. BENCH_ARGS, e.g. --quick or
# --sizes 110k,1.1m --rounds 3 (bench/run --help).
bench:
	@BUILD=$(BUILD) bash bench/run $(BENCH_ARGS)

# --- install ------------------------------------------------------------------------------
# The units' ExecStart=/ExecReload= name /usr/local/ (PREFIX's default); installed, they name
# $(PREFIX)/. The policy is never overwritten. Without DESTDIR, systemd-sysusers creates group
# permwatch; then: systemctl daemon-reload, journalctl --update-catalog (README, Install).
install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/permwatchd $(DESTDIR)$(PREFIX)/sbin/permwatchd
	install -m 0755 $(BUILD)/permwatchctl $(DESTDIR)$(PREFIX)/bin/permwatchctl
	install -m 0755 packaging/permwatch-fleet $(DESTDIR)$(PREFIX)/bin/permwatch-fleet
	install -d $(DESTDIR)/etc/permwatch $(DESTDIR)$(CATALOGDIR) $(DESTDIR)$(SYSUSERSDIR)
	test -e $(DESTDIR)/etc/permwatch/permwatch.ini || \
	    install -m 0644 conf/permwatch.ini $(DESTDIR)/etc/permwatch/permwatch.ini
	install -m 0644 packaging/permwatch.catalog $(DESTDIR)$(CATALOGDIR)/permwatch.catalog
	install -m 0644 packaging/permwatch.sysusers $(DESTDIR)$(SYSUSERSDIR)/permwatch.conf
	install -d $(DESTDIR)$(PREFIX)/share/permwatch/prometheus
	install -m 0644 packaging/prometheus/permwatch.rules.yml $(DESTDIR)$(PREFIX)/share/permwatch/prometheus/
	@for m in $(MANPAGES); do s=$${m##*.}; echo "install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/"; \
	    install -d $(DESTDIR)$(MANDIR)/man$$s && install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/ \
	    || exit 1; done
	if [ -e packaging/permwatchctl.bash-completion ]; then install -d $(DESTDIR)$(COMPLETIONDIR) && \
	    install -m 0644 packaging/permwatchctl.bash-completion $(DESTDIR)$(COMPLETIONDIR)/permwatchctl; fi
	install -d $(DESTDIR)$(UNITDIR)
	@case "$(FANOTIFY)" in example) d=$(DESTDIR)$(DOCDIR)/examples; \
	    echo "install -m 0644 systemd/fanotify.conf $$d/"; \
	    install -d $$d && install -m 0644 systemd/fanotify.conf $$d/ ;; \
	default) for u in permwatchd.service permwatchd@.service; do d=$(DESTDIR)$(UNITDIR)/$$u.d; \
	    echo "install -m 0644 systemd/fanotify.conf $$d/"; \
	    install -d $$d && install -m 0644 systemd/fanotify.conf $$d/ || exit 1; done ;; \
	*) echo "FANOTIFY=$(FANOTIFY): example or default" >&2; exit 2 ;; esac
	@for u in $(UNITS); do echo "sed /usr/local/ -> $(PREFIX)/ systemd/$$u > $(DESTDIR)$(UNITDIR)/$$u"; \
	    sed '/^Exec/s|/usr/local/|$(PREFIX)/|g' systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
	    chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
	    systemd-sysusers $(SYSUSERSDIR)/permwatch.conf; fi

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/permwatchd $(DESTDIR)$(PREFIX)/bin/permwatchctl \
	    $(DESTDIR)$(PREFIX)/bin/permwatch-fleet \
	    $(DESTDIR)$(CATALOGDIR)/permwatch.catalog $(DESTDIR)$(SYSUSERSDIR)/permwatch.conf \
	    $(DESTDIR)$(COMPLETIONDIR)/permwatchctl \
	    $(DESTDIR)$(PREFIX)/share/permwatch/prometheus/permwatch.rules.yml \
	    $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)$(DOCDIR)/examples/fanotify.conf \
	    $(DESTDIR)$(UNITDIR)/permwatchd.service.d/fanotify.conf \
	    $(DESTDIR)$(UNITDIR)/permwatchd@.service.d/fanotify.conf \
	    $(foreach m,$(MANPAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))

# --- Debian package -----------------------------------------------------------------------
# `make deb`: build/deb/permwatch_$(VERSION)_amd64.deb with debhelper (packaging/debian/), from
# a copy of the tree in build/deb/permwatch-$(VERSION)/ with its own build/ (the objects of
# `make all` and the tests stay untouched), then lintian on the .deb, .buildinfo and .changes:
# errors and warnings fail. Tests are not run inside (nocheck: they need root, journald and
# nspawn). `make check-deb` (run by `make check`) also compares the package's contents with
# tests/deb-contents.txt and checks its control data (tests/deb-check.sh).
# build/deb whatever BUILD is: the ASan pass (BUILD=build/asan) tests the same package, which
# check-unit names to the tests as PERMWATCH_DEB.
DEB_DIR ?= build/deb
DEB_SRC := $(DEB_DIR)/permwatch-$(VERSION)
DEB     := $(DEB_DIR)/permwatch_$(VERSION)_$(shell dpkg --print-architecture 2>/dev/null || echo amd64).deb
DEB_TREE := Makefile LICENSE README.md conf daemon packaging systemd

deb:
	@sh tests/install-deps.sh $(DEPS_BUILD) $(DEPS_DEB)
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	cp -R $(DEB_TREE) $(DEB_SRC)/
	cp -R packaging/debian $(DEB_SRC)/debian
	cd $(DEB_SRC) && DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" \
	    dpkg-buildpackage -us -uc -b --no-sign >../dpkg-buildpackage.log 2>&1 \
	    || { tail -n 40 ../dpkg-buildpackage.log; echo "dpkg-buildpackage failed: $(DEB_DIR)/dpkg-buildpackage.log"; exit 1; }
	lintian --fail-on error,warning --tag-display-limit 0 $(DEB_DIR)/*.changes
	@echo "built $(DEB)"

check-deb: deb
	@sh tests/deb-check.sh $(DEB) $(VERSION) "$(filter-out gcc make,$(DEPS_BUILD))"

clean:
	rm -rf build
