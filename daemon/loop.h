/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's single-threaded event loop: epoll over libdbus watches (of
 * the bus connection), libdbus timeouts, plain file descriptors (signalfd,
 * the private socket and its peers), periodic timers and idle hooks.
 */
#pragma once

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct loop loop;

typedef void (*loop_fd_fn)(loop *l, int fd, uint32_t revents, void *userdata);
typedef void (*loop_timer_fn)(loop *l, void *userdata);
/* Runs once an iteration, before the loop waits; true: it has work left,
 * so the loop does not sleep. */
typedef bool (*loop_idle_fn)(loop *l, void *userdata);

int loop_new(loop **ret);
loop *loop_free(loop *l);

/* Drives a connection's I/O, timeouts and dispatching from this loop. */
int loop_attach_connection(loop *l, DBusConnection *c);
/* Stops driving it (before the last unref). */
void loop_detach_connection(loop *l, DBusConnection *c);

int loop_add_fd(loop *l, int fd, uint32_t events, loop_fd_fn fn, void *userdata);
/* Changes the events (EPOLLIN, EPOLLOUT) a descriptor added with
 * loop_add_fd() is watched for. */
int loop_set_fd_events(loop *l, int fd, uint32_t events);
/* Stops watching it (before it is closed). */
void loop_remove_fd(loop *l, int fd);
/* Forgets it without telling epoll, for a descriptor about to be closed
 * that was never duplicated (close() takes it out of the epoll set). */
void loop_forget_fd(loop *l, int fd);
int loop_add_timer(loop *l, uint64_t interval_usec, loop_timer_fn fn, void *userdata);
int loop_add_idle(loop *l, loop_idle_fn fn, void *userdata);
/* After an iteration that had work, look for more for up to usec (giving
 * the CPU to anyone who wants it) before sleeping; 0: sleep at once. */
void loop_set_busy_poll(loop *l, unsigned usec);
void loop_remove_idle(loop *l, loop_idle_fn fn, void *userdata);

/* Runs until loop_quit(); returns the code given to it. */
int loop_run(loop *l);
void loop_quit(loop *l, int code);
