/*
 * vCPU threads and VM-exit handling. Each vCPU thread loops on KVM_RUN and
 * routes exits through a table indexed by KVM's exit reason (bhyve's
 * vmexit_handlers[]). Stopping: vm_request_exit() records the reason, sets
 * every vCPU's immediate_exit and signals its thread, so a vCPU leaves the
 * guest whether it was inside KVM_RUN or about to enter it.
 *
 * Halted for good: bhyve exits 2 when every vCPU has halted with interrupts
 * disabled (its kernel suspends the VM then: nothing but an NMI could wake
 * it -- a guest's "halt"). KVM's in-kernel LAPIC keeps HLT to itself, so
 * khyve asks: once a second (HALT_WATCH_MS) the main loop kicks every vCPU
 * to report its state from its own thread (KVM_GET_MP_STATE, RFLAGS.IF),
 * and when two rounds in a row find every vCPU the guest has started
 * halted with IF=0, the VM ends with VM_EXIT_HALT. A second per vCPU is
 * one signal and two ioctls: an idle guest stays idle.
 */
#include "core/vmm.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/coalesce.h"
#include "core/config.h"
#include "core/inout.h"
#include "core/mem.h"
#include "core/mevent.h"

#define VCPU_KICK_SIGNAL SIGUSR1

struct vcpu_thread {
	struct vcpu vcpu;
	pthread_t thread;
	bool started;
	pid_t tid;
	bool request_pending; /* a register read is waiting (atomic; see serve_request) */
	bool halt_check;      /* the halt watch asks for halt_state (atomic) */
	int halt_state;       /* enum halt_state, this round's answer (atomic) */
	struct vcpu_stats stats;
};

/*
 * Counters are written by their vCPU thread only and read by the main thread
 * (khyvectl --get-stats): relaxed atomics, which cost no more than ++.
 */
#define STAT_INC(field) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)

/* The one register-read request in flight (vm_vcpu_read_regs). */
static pthread_mutex_t request_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t request_done_cond;
static struct vcpu_regs *request_out;
static int request_rc;
static bool request_done;

enum halt_state {
	HALT_NO_ANSWER,  /* running, or not answered yet */
	HALT_FOR_GOOD,   /* halted with interrupts disabled */
	HALT_NOT_STARTED /* an AP the guest never started (waits for INIT/SIPI) */
};

#define RFLAGS_IF (1u << 9)
#define HALT_WATCH_MS 1000
#define HALT_WATCH_ROUNDS 2

static struct vmctx *vm_ctx;
static struct vcpu_thread vcpus[VM_MAX_VCPUS];
static int nvcpus;
static _Atomic int exit_code = -1;

/*
 * Get a vCPU out of the guest (or keep it from entering): immediate_exit
 * covers a thread about to call KVM_RUN, the signal one inside it. The
 * caller sets the flag the vCPU must act on (exit code, request) first.
 */
static void kick_vcpu(struct vcpu_thread *vt)
{
	if (vt->vcpu.run != NULL)
		__atomic_store_n(&vt->vcpu.run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vt->started)
		pthread_kill(vt->thread, VCPU_KICK_SIGNAL);
}

static void kick_vcpus(void)
{
	for (int i = 0; i < nvcpus; i++)
		kick_vcpu(&vcpus[i]);
}

void vm_request_exit(enum vm_exit_code code)
{
	int expected = -1;

	if (!__atomic_compare_exchange_n(&exit_code, &expected, (int)code, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return;
	kick_vcpus();
	mevent_stop();
}

bool vm_exit_requested(void)
{
	return __atomic_load_n(&exit_code, __ATOMIC_SEQ_CST) >= 0;
}

enum vm_exit_code vm_exit_code(void)
{
	int code = __atomic_load_n(&exit_code, __ATOMIC_SEQ_CST);

	return code < 0 ? VM_EXIT_ERROR : (enum vm_exit_code)code;
}

int vm_create_vcpus(struct vmctx *ctx, int n)
{
	if (n < 1 || n > VM_MAX_VCPUS)
		return -1;
	vm_ctx = ctx;
	for (int i = 0; i < n; i++) {
		if (vm_vcpu_create(ctx, i, &vcpus[i].vcpu) < 0)
			return -1;
		nvcpus = i + 1;
	}
	return 0;
}

struct vcpu *vm_vcpu(int id)
{
	return id >= 0 && id < nvcpus ? &vcpus[id].vcpu : NULL;
}

int vm_vcpu_count(void)
{
	return nvcpus;
}

/* ---- exit handlers: return 0 to re-enter the guest, -1 to stop the VM with an error ---- */

typedef int (*exit_handler_t)(struct vcpu_thread *vt);

static int handle_io(struct vcpu_thread *vt)
{
	struct kvm_run *run = vt->vcpu.run;
	bool in = run->io.direction == KVM_EXIT_IO_IN;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	int bytes = run->io.size;

	STAT_INC(vt->stats.exits_io);
	/* String I/O (rep ins/outs) arrives as "count" consecutive items. */
	for (uint32_t i = 0; i < run->io.count; i++, data += bytes) {
		uint32_t val = 0;

		if (!in)
			memcpy(&val, data, (size_t)bytes);
		if (emulate_inout(vm_ctx, in, run->io.port, bytes, &val) < 0) {
			fprintf(stderr, "khyve: vCPU %d: unhandled %s of port 0x%x (x86.strictio)\n",
				vt->vcpu.id, in ? "read" : "write", run->io.port);
			return -1;
		}
		if (in)
			memcpy(data, &val, (size_t)bytes);
	}
	return 0;
}

static int handle_mmio(struct vcpu_thread *vt)
{
	struct kvm_run *run = vt->vcpu.run;
	uint64_t val = 0;
	int len = (int)run->mmio.len;

	STAT_INC(vt->stats.exits_mmio);
	if (len < 1 || len > 8)
		return 0;
	if (run->mmio.is_write)
		memcpy(&val, run->mmio.data, (size_t)len);
	emulate_mem(vm_ctx, run->mmio.is_write, run->mmio.phys_addr, len, &val);
	if (!run->mmio.is_write)
		memcpy(run->mmio.data, &val, (size_t)len);
	return 0;
}

static int handle_shutdown(struct vcpu_thread *vt)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;

	/*
	 * KVM reports a triple fault as a shutdown exit. Guests reboot this
	 * way on purpose too, but where it happened is what anyone debugging a
	 * guest or firmware wants first: one line.
	 */
	if (vm_vcpu_get_regs(&vt->vcpu, &regs) < 0 || vm_vcpu_get_sregs(&vt->vcpu, &sregs) < 0)
		fprintf(stderr, "khyve: vCPU %d: triple fault\n", vt->vcpu.id);
	else if (sregs.cs.selector == 0xf000 && regs.rip == 0xfff0)
		/* KVM on AMD reinitialises the vCPU at a shutdown: the fault's state is gone. */
		fprintf(stderr, "khyve: vCPU %d: triple fault (state not kept by KVM)\n",
			vt->vcpu.id);
	else
		fprintf(stderr, "khyve: vCPU %d: triple fault at %04x:%llx (cr0 %llx, efer %llx)\n",
			vt->vcpu.id, sregs.cs.selector, (unsigned long long)regs.rip,
			(unsigned long long)sregs.cr0, (unsigned long long)sregs.efer);
	vm_request_exit(VM_EXIT_TRIPLEFAULT);
	return 0;
}

static int handle_hlt(struct vcpu_thread *vt)
{
	/* Only seen without an in-kernel LAPIC: a halted vCPU that nothing can wake. */
	vm_request_exit(VM_EXIT_HALT);
	return 0;
}

static int handle_system_event(struct vcpu_thread *vt)
{
	switch (vt->vcpu.run->system_event.type) {
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_exit(VM_EXIT_REBOOT);
		return 0;
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_exit(VM_EXIT_POWEROFF);
		return 0;
	default:
		return -1;
	}
}

static int handle_intr(struct vcpu_thread *vt)
{
	STAT_INC(vt->stats.exits_intr);
	return 0;
}

static int handle_failure(struct vcpu_thread *vt)
{
	struct kvm_run *run = vt->vcpu.run;
	struct kvm_regs regs;

	if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
		fprintf(stderr, "khyve: vCPU %d: VM entry failed (hardware reason 0x%llx)\n",
			vt->vcpu.id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	else if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
		fprintf(stderr, "khyve: vCPU %d: KVM internal error (suberror %u)\n", vt->vcpu.id,
			run->internal.suberror);
	else
		fprintf(stderr, "khyve: vCPU %d: unhandled VM exit %u\n", vt->vcpu.id,
			run->exit_reason);
	if (vm_vcpu_get_regs(&vt->vcpu, &regs) == 0)
		fprintf(stderr, "khyve: vCPU %d: rip=0x%llx rsp=0x%llx\n", vt->vcpu.id,
			(unsigned long long)regs.rip, (unsigned long long)regs.rsp);
	return -1;
}

static const exit_handler_t exit_handlers[] = {
	[KVM_EXIT_IO] = handle_io,
	[KVM_EXIT_MMIO] = handle_mmio,
	[KVM_EXIT_SHUTDOWN] = handle_shutdown,
	[KVM_EXIT_HLT] = handle_hlt,
	[KVM_EXIT_SYSTEM_EVENT] = handle_system_event,
	[KVM_EXIT_INTR] = handle_intr,
	[KVM_EXIT_IRQ_WINDOW_OPEN] = handle_intr,
};

static int dispatch_exit(struct vcpu_thread *vt)
{
	uint32_t reason = vt->vcpu.run->exit_reason;

	if (reason < sizeof(exit_handlers) / sizeof(exit_handlers[0]) &&
	    exit_handlers[reason] != NULL)
		return exit_handlers[reason](vt);
	STAT_INC(vt->stats.exits_other);
	return handle_failure(vt);
}

static void pin_vcpu(int id)
{
	char key[32];
	const char *list;
	cpu_set_t set;
	char *copy, *tok, *save = NULL;

	snprintf(key, sizeof(key), "vcpu.%d.cpuset", id);
	list = get_config_value(key);
	if (list == NULL)
		return;
	CPU_ZERO(&set);
	copy = strdup(list);
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
		CPU_SET((int)strtol(tok, NULL, 10), &set);
	free(copy);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
		fprintf(stderr, "khyve: warning: cannot pin vCPU %d to host CPUs %s\n", id, list);
}

/* On the vCPU's thread, between two KVM_RUNs: answer a pending register read. */
static void serve_request(struct vcpu_thread *vt)
{
	if (!__atomic_load_n(&vt->request_pending, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&request_lock);
	if (vt->request_pending && request_out != NULL) {
		request_rc = 0;
		if (vm_vcpu_get_regs(&vt->vcpu, &request_out->regs) < 0 ||
		    vm_vcpu_get_sregs(&vt->vcpu, &request_out->sregs) < 0)
			request_rc = -errno;
		request_done = true;
		pthread_cond_broadcast(&request_done_cond);
	}
	__atomic_store_n(&vt->request_pending, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&request_lock);
}

/* On the vCPU's thread: answer the halt watch's question, if asked. */
static void serve_halt_check(struct vcpu_thread *vt)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	int state = HALT_NO_ANSWER;

	if (!__atomic_exchange_n(&vt->halt_check, false, __ATOMIC_ACQ_REL))
		return;
	if (vm_vcpu_get_mp_state(&vt->vcpu, &mp) == 0) {
		if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
		    mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
			state = HALT_NOT_STARTED;
		else if (mp.mp_state == KVM_MP_STATE_HALTED &&
			 vm_vcpu_get_regs(&vt->vcpu, &regs) == 0 && !(regs.rflags & RFLAGS_IF))
			state = HALT_FOR_GOOD;
	}
	__atomic_store_n(&vt->halt_state, state, __ATOMIC_RELEASE);
}

/* Did the last round find the guest halted for good? */
static bool all_halted_for_good(void)
{
	bool any_halted = false;

	for (int i = 0; i < nvcpus; i++) {
		int state = __atomic_load_n(&vcpus[i].halt_state, __ATOMIC_ACQUIRE);

		if (state == HALT_NO_ANSWER)
			return false;
		any_halted |= state == HALT_FOR_GOOD;
	}
	return any_halted;
}

/* Main loop timer: judge the round that ends, start the next one. */
static void halt_watch_tick(int fd, enum ev_type type, void *arg)
{
	static int rounds;

	rounds = all_halted_for_good() ? rounds + 1 : 0;
	if (rounds >= HALT_WATCH_ROUNDS) {
		fprintf(stderr, "khyve: every vCPU halted with interrupts disabled: the guest halted\n");
		vm_request_exit(VM_EXIT_HALT);
		return;
	}
	for (int i = 0; i < nvcpus; i++) {
		__atomic_store_n(&vcpus[i].halt_state, HALT_NO_ANSWER, __ATOMIC_RELEASE);
		__atomic_store_n(&vcpus[i].halt_check, true, __ATOMIC_SEQ_CST);
		kick_vcpu(&vcpus[i]);
	}
}

/*
 * After a kick, clear immediate_exit before looking at why we were kicked:
 * a kick that lands after the clear leaves it set again, and one that landed
 * before has its reason visible to the loads that follow (seq_cst).
 */
static void take_kick(struct vcpu_thread *vt)
{
	if (__atomic_load_n(&vt->vcpu.run->immediate_exit, __ATOMIC_RELAXED))
		__atomic_store_n(&vt->vcpu.run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static void *vcpu_loop(void *arg)
{
	struct vcpu_thread *vt = arg;
	sigset_t kick;
	char name[16];

	__atomic_store_n(&vt->tid, gettid(), __ATOMIC_RELAXED);
	snprintf(name, sizeof(name), "vcpu%d", vt->vcpu.id);
	pthread_setname_np(pthread_self(), name);
	pin_vcpu(vt->vcpu.id);
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	for (;;) {
		int rc;

		take_kick(vt);
		if (vm_exit_requested())
			break;
		serve_request(vt);
		serve_halt_check(vt);
		rc = vm_vcpu_run(&vt->vcpu);
		/* Writes KVM queued come before whatever made this exit. */
		coalesce_drain(vm_ctx);
		if (rc == -EINTR || rc == -EAGAIN)
			continue;
		if (rc < 0) {
			fprintf(stderr, "khyve: vCPU %d: KVM_RUN: %s\n", vt->vcpu.id, strerror(-rc));
			vm_request_exit(VM_EXIT_ERROR);
			break;
		}
		if (dispatch_exit(vt) < 0)
			vm_request_exit(VM_EXIT_ERROR);
	}
	return NULL;
}

static void kick_handler(int signo)
{
	/* Nothing to do: the signal's only job is to interrupt KVM_RUN. */
}

static void install_kick_handler(void)
{
	struct sigaction sa;
	sigset_t kick;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	/* Blocked everywhere except inside vCPU threads. */
	sigemptyset(&kick);
	sigaddset(&kick, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, NULL);
}

static void init_request_cond(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&request_done_cond, &attr);
	pthread_condattr_destroy(&attr);
}

/*
 * A vCPU thread's stack: exit handlers use a few KiB. glibc's default of
 * 8 MiB is a mapping big enough for a transparent huge page, which a host
 * with THP "always" (and 2 MiB-aligned large mappings) backs with 2 MiB of
 * RAM per vCPU at the first touch; under 2 MiB it cannot.
 */
#define VCPU_STACK_SIZE (1u << 20)

enum vm_exit_code vm_run(struct vmctx *ctx)
{
	pthread_attr_t attr;

	install_kick_handler();
	init_request_cond();
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VCPU_STACK_SIZE);
	for (int i = 0; i < nvcpus; i++) {
		if (pthread_create(&vcpus[i].thread, &attr, vcpu_loop, &vcpus[i]) != 0) {
			fprintf(stderr, "khyve: cannot start vCPU %d thread\n", i);
			vm_request_exit(VM_EXIT_ERROR);
			break;
		}
		vcpus[i].started = true;
	}
	pthread_attr_destroy(&attr);
	if (mevent_add(HALT_WATCH_MS, EVF_TIMER, halt_watch_tick, NULL) == NULL)
		fprintf(stderr, "khyve: warning: no halt watch (%s): a halted guest keeps running\n",
			strerror(errno));
	if (!vm_exit_requested())
		mevent_dispatch();
	kick_vcpus();
	for (int i = 0; i < nvcpus; i++)
		if (vcpus[i].started)
			pthread_join(vcpus[i].thread, NULL);
	/* The guest's last queued writes (its parting words on the console). */
	coalesce_drain(vm_ctx);
	return vm_exit_code();
}

void vm_total_stats(struct vcpu_stats *total)
{
	memset(total, 0, sizeof(*total));
	for (int i = 0; i < nvcpus; i++) {
		total->exits_io += vcpus[i].stats.exits_io;
		total->exits_mmio += vcpus[i].stats.exits_mmio;
		total->exits_intr += vcpus[i].stats.exits_intr;
		total->exits_other += vcpus[i].stats.exits_other;
	}
}

int vm_vcpu_stats(int id, struct vcpu_stats *out)
{
	const struct vcpu_stats *st;

	if (id < 0 || id >= nvcpus)
		return -1;
	st = &vcpus[id].stats;
	out->exits_io = __atomic_load_n(&st->exits_io, __ATOMIC_RELAXED);
	out->exits_mmio = __atomic_load_n(&st->exits_mmio, __ATOMIC_RELAXED);
	out->exits_intr = __atomic_load_n(&st->exits_intr, __ATOMIC_RELAXED);
	out->exits_other = __atomic_load_n(&st->exits_other, __ATOMIC_RELAXED);
	return 0;
}

pid_t vm_vcpu_tid(int id)
{
	return id >= 0 && id < nvcpus ? __atomic_load_n(&vcpus[id].tid, __ATOMIC_RELAXED) : 0;
}

static struct timespec deadline_after_ms(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int vm_vcpu_read_regs(int id, struct vcpu_regs *out, int timeout_ms)
{
	struct timespec deadline = deadline_after_ms(timeout_ms);
	struct vcpu_thread *vt;
	int rc;

	if (id < 0 || id >= nvcpus || !vcpus[id].started)
		return -ENOENT;
	vt = &vcpus[id];
	pthread_mutex_lock(&request_lock);
	request_out = out;
	request_done = false;
	__atomic_store_n(&vt->request_pending, true, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&request_lock);
	kick_vcpu(vt);

	pthread_mutex_lock(&request_lock);
	while (!request_done)
		if (pthread_cond_timedwait(&request_done_cond, &request_lock, &deadline) == ETIMEDOUT)
			break;
	rc = request_done ? request_rc : -ETIMEDOUT;
	/* Withdraw the request so a late vCPU does not write into *out. */
	request_out = NULL;
	__atomic_store_n(&vt->request_pending, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&request_lock);
	return rc;
}
