# khyve -- bhyve on Linux/KVM.  `make` builds, `make check` runs every test,
# `make demo` boots a demo guest, `make bench` compares with QEMU.

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/sbin
MANDIR = $(PREFIX)/share/man
# systemd also reads /usr/local/lib/systemd/system: right for either usual prefix.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
EXAMPLESDIR = $(PREFIX)/share/examples

CC ?= cc
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wno-unused-parameter
CFLAGS ?= -O2 -g
KH_CFLAGS = -std=gnu11 $(WARN) -D_GNU_SOURCE -Isrc -MMD -MP $(CFLAGS)
LDLIBS = -lpthread -ldl -llzma -luring -lmd

B = build
SAN = $(B)/asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

# Everything but the programs' main files: device models, core, x86, KVM library.
LIB_SRCS = $(wildcard src/lib/*.c src/core/*.c src/x86/*.c src/hw/*.c src/pci/*.c \
	src/virtio/*.c src/block/*.c src/net/*.c)
LIB_OBJS = $(LIB_SRCS:%.c=$(B)/%.o)
KHYVE_OBJS = $(patsubst %.c,$(B)/%.o,$(wildcard src/khyve/*.c))
# khyvectl shares the registry's paths and the control protocol's JSON with khyve.
KHYVECTL_OBJS = $(patsubst %.c,$(B)/%.o,$(wildcard src/khyvectl/*.c) \
	src/core/config.c src/core/json.c src/core/registry.c)

UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(SAN)/tests/%)
SAN_LIB_OBJS = $(LIB_SRCS:%.c=$(SAN)/%.o)

all: $(B)/khyve $(B)/khyvectl

# Linked from objects, not an archive: devices register themselves through
# linker sets and would be dropped by the archive's pull-on-demand linking.
$(B)/khyve: $(KHYVE_OBJS) $(LIB_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/khyvectl: $(KHYVECTL_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ -lpthread

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KH_CFLAGS) -c -o $@ $<

# Unit tests: built and run under AddressSanitizer + UndefinedBehaviorSanitizer.
$(SAN)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KH_CFLAGS) $(SANFLAGS) -O1 -c -o $@ $<

$(SAN)/tests/%: $(SAN)/tests/unit/%.o $(SAN_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)

deps:
	@scripts/install-deps.sh

check: deps
	$(MAKE) all unit
	@tests/run-all.sh

demo: deps all
	@scripts/demo.sh

# Longer durability run than make check's: SOAK_BOOTS kills of the VMM mid-write.
SOAK_BOOTS ?= 25
soak: deps all
	@DURABILITY_BOOTS=$(SOAK_BOOTS) L1_TIMEOUT=$$(($(SOAK_BOOTS) * 40 + 180)) \
		L1_STALL_TIMEOUT=$$(($(SOAK_BOOTS) * 40 + 60)) tests/e2e/run.sh disk-durability

bench: deps all
	@tests/bench/boot.sh

# Programs, vmrun (also where the handbook runs vmrun.sh from, under PREFIX),
# the systemd unit with an example /etc/khyve/NAME.conf, man pages.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(EXAMPLESDIR)/khyve \
		$(DESTDIR)$(EXAMPLESDIR)/bhyve $(DESTDIR)/etc/khyve
	install -m 755 $(B)/khyve $(B)/khyvectl scripts/vmrun $(DESTDIR)$(BINDIR)/
	ln -sf $(BINDIR)/vmrun $(DESTDIR)$(EXAMPLESDIR)/bhyve/vmrun.sh
	sed 's|@SBINDIR@|$(BINDIR)|g' systemd/khyve@.service.in >$(DESTDIR)$(SYSTEMDUNITDIR)/khyve@.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/khyve@.service
	install -m 644 systemd/example.conf $(DESTDIR)$(EXAMPLESDIR)/khyve/NAME.conf
	install -m 644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/

clean:
	rm -rf $(B)

.PHONY: all unit deps check demo bench soak install clean

# Keep the sanitizer objects between runs (make would delete them as intermediates).
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)
