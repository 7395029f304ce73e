/*
 * The main thread's event loop on epoll. Timers are timerfds and signals are
 * signalfds, so everything is a file descriptor and one epoll_wait() covers
 * it: an idle VM sleeps here at zero CPU cost.
 *
 * Thread rules: add/enable/disable may be called from any thread (epoll_ctl
 * is thread-safe). mevent_delete frees the event, so it must run on the
 * dispatch thread (or before dispatching starts); it is deferred to the end
 * of the current batch so callbacks later in the batch never see freed memory.
 */
#include "core/mevent.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct mevent {
	int fd;            /* the fd epoll watches (our timerfd/signalfd for those types) */
	enum ev_type type;
	mevent_cb cb;
	void *arg;
	int user_fd;       /* fd as passed by the caller (period / signal number for timers/signals) */
	bool owns_fd;
	bool deleted;
	struct mevent *next_deleted;
};

#define MAX_BATCH 32

static int epfd = -1;
static int wake_fd = -1;
static volatile bool stop_requested;
static struct mevent *deleted_list;

int mevent_init(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		return -1;
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0)
		return -1;
	stop_requested = false;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev);
}

static int make_timerfd(int period_ms)
{
	struct itimerspec its;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0)
		return -1;
	its.it_interval.tv_sec = period_ms / 1000;
	its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int make_signalfd(int signo)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, signo);
	/* Blocked in this thread; threads created later inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static uint32_t epoll_events_for(enum ev_type type)
{
	return type == EVF_WRITE ? EPOLLOUT : EPOLLIN;
}

struct mevent *mevent_add(int fd, enum ev_type type, mevent_cb cb, void *arg)
{
	struct mevent *evp = calloc(1, sizeof(*evp));
	struct epoll_event ev;

	if (evp == NULL)
		return NULL;
	evp->type = type;
	evp->cb = cb;
	evp->arg = arg;
	evp->user_fd = fd;
	if (type == EVF_TIMER)
		evp->fd = make_timerfd(fd);
	else if (type == EVF_SIGNAL)
		evp->fd = make_signalfd(fd);
	else
		evp->fd = fd;
	evp->owns_fd = type == EVF_TIMER || type == EVF_SIGNAL;
	if (evp->fd < 0) {
		free(evp);
		return NULL;
	}
	ev.events = epoll_events_for(type);
	ev.data.ptr = evp;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, evp->fd, &ev) < 0) {
		if (evp->owns_fd)
			close(evp->fd);
		free(evp);
		return NULL;
	}
	return evp;
}

static int modify(struct mevent *evp, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = evp };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, evp->fd, &ev);
}

int mevent_enable(struct mevent *evp)
{
	return modify(evp, epoll_events_for(evp->type));
}

int mevent_disable(struct mevent *evp)
{
	return modify(evp, 0);
}

int mevent_delete(struct mevent *evp)
{
	if (evp == NULL || evp->deleted)
		return -1;
	epoll_ctl(epfd, EPOLL_CTL_DEL, evp->fd, NULL);
	if (evp->owns_fd)
		close(evp->fd);
	evp->deleted = true;
	evp->next_deleted = deleted_list;
	deleted_list = evp;
	return 0;
}

static void free_deleted(void)
{
	while (deleted_list != NULL) {
		struct mevent *next = deleted_list->next_deleted;

		free(deleted_list);
		deleted_list = next;
	}
}

/* Timers and signals are level-triggered fds: consume them before the callback. */
static void drain_internal_fd(struct mevent *evp)
{
	uint64_t expirations;
	struct signalfd_siginfo si;

	if (evp->type == EVF_TIMER)
		(void)!read(evp->fd, &expirations, sizeof(expirations));
	else if (evp->type == EVF_SIGNAL)
		(void)!read(evp->fd, &si, sizeof(si));
}

void mevent_stop(void)
{
	uint64_t one = 1;

	stop_requested = true;
	(void)!write(wake_fd, &one, sizeof(one));
}

void mevent_dispatch(void)
{
	struct epoll_event events[MAX_BATCH];

	while (!stop_requested) {
		int n = epoll_wait(epfd, events, MAX_BATCH, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct mevent *evp = events[i].data.ptr;

			if (evp == NULL || evp->deleted)
				continue;
			drain_internal_fd(evp);
			evp->cb(evp->user_fd, evp->type, evp->arg);
		}
		free_deleted();
	}
	/* Consumed: a later mevent_dispatch() runs again (tests pause the loop). */
	uint64_t cnt;

	(void)!read(wake_fd, &cnt, sizeof(cnt));
	stop_requested = false;
}
