/*
 * The event loop (epoll): file descriptors, timers and signals handled on the
 * main thread. Callbacks run on the dispatch thread only. mevent_add/enable/
 * disable/delete may be called from any thread (vCPU threads re-arm a
 * backend when a device FIFO drains).
 */
#ifndef KHYVE_MEVENT_H
#define KHYVE_MEVENT_H

#include <stdint.h>

enum ev_type { EVF_READ, EVF_WRITE, EVF_TIMER, EVF_SIGNAL };

struct mevent;
typedef void (*mevent_cb)(int fd, enum ev_type type, void *arg);

int mevent_init(void);
/*
 * EVF_READ/EVF_WRITE: fd to watch. EVF_TIMER: fd is the period in ms (a
 * timerfd is made). EVF_SIGNAL: fd is the signal number (blocked, signalfd).
 * Returns NULL (errno set) on failure. Events start enabled.
 */
struct mevent *mevent_add(int fd, enum ev_type type, mevent_cb cb, void *arg);
int mevent_enable(struct mevent *evp);
int mevent_disable(struct mevent *evp);
int mevent_delete(struct mevent *evp);
/* Runs until mevent_stop(); returns then (and may be called again). */
void mevent_dispatch(void);
void mevent_stop(void);

#endif
