/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "loop.h"

#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define MAX_WATCHES_PER_FD 4

/* One registered descriptor: either libdbus watches or a plain callback. */
typedef struct source {
        int fd;
        uint32_t registered; /* events in epoll, 0: not in epoll */
        DBusWatch *watches[MAX_WATCHES_PER_FD];
        loop_fd_fn fn;
        void *userdata;
        uint32_t events;
} source;

typedef struct timer {
        DBusTimeout *timeout; /* NULL for a periodic timer */
        loop_timer_fn fn;
        void *userdata;
        uint64_t interval, deadline; /* deadline 0: disabled */
} timer;

struct loop {
        int epfd;
        source **by_fd;
        size_t n_fds;
        timer **timers;
        size_t n_timers;
        DBusConnection **conns;
        size_t n_conns;
        struct idle {
                loop_idle_fn fn;
                void *userdata;
        } *idles;
        size_t n_idles;
        unsigned busy_poll_usec;
        bool had_work; /* the last wait returned events */
        bool quit;
        int code;
};

int loop_new(loop **ret) {
        loop *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                int r = -errno;
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

loop *loop_free(loop *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_fds; i++)
                free(l->by_fd[i]);
        for (size_t i = 0; i < l->n_timers; i++)
                free(l->timers[i]);
        free(l->by_fd);
        free(l->timers);
        free(l->conns);
        free(l->idles);
        close(l->epfd);
        free(l);
        return NULL;
}

static source *source_get(loop *l, int fd, bool create) {
        if ((size_t) fd >= l->n_fds) {
                if (!create)
                        return NULL;
                size_t n = (size_t) fd + 16;
                source **s = realloc(l->by_fd, n * sizeof(*s));
                if (!s)
                        return NULL;
                memset(s + l->n_fds, 0, (n - l->n_fds) * sizeof(*s));
                l->by_fd = s;
                l->n_fds = n;
        }
        if (!l->by_fd[fd] && create) {
                l->by_fd[fd] = calloc(1, sizeof(source));
                if (l->by_fd[fd])
                        l->by_fd[fd]->fd = fd;
        }
        return l->by_fd[fd];
}

/* Brings epoll in line with what the source wants now. */
static int source_sync(loop *l, source *s) {
        uint32_t want = s->fn ? s->events : 0;
        for (int i = 0; i < MAX_WATCHES_PER_FD; i++) {
                DBusWatch *w = s->watches[i];
                if (!w || !dbus_watch_get_enabled(w))
                        continue;
                unsigned f = dbus_watch_get_flags(w);
                if (f & DBUS_WATCH_READABLE)
                        want |= EPOLLIN;
                if (f & DBUS_WATCH_WRITABLE)
                        want |= EPOLLOUT;
        }
        struct epoll_event ev = { .events = want, .data.fd = s->fd };
        int r = 0;
        if (want && !s->registered)
                r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev);
        else if (want && want != s->registered)
                r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &ev);
        else if (!want && s->registered)
                r = epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        if (r < 0)
                return -errno;
        s->registered = want;

        bool empty = !s->fn;
        for (int i = 0; i < MAX_WATCHES_PER_FD; i++)
                empty = empty && !s->watches[i];
        if (empty) {
                l->by_fd[s->fd] = NULL;
                free(s);
        }
        return 0;
}

static dbus_bool_t add_watch(DBusWatch *w, void *data) {
        loop *l = data;
        source *s = source_get(l, dbus_watch_get_unix_fd(w), true);
        if (!s)
                return FALSE;
        for (int i = 0; i < MAX_WATCHES_PER_FD; i++)
                if (!s->watches[i]) {
                        s->watches[i] = w;
                        return source_sync(l, s) == 0;
                }
        return FALSE;
}

static void remove_watch(DBusWatch *w, void *data) {
        loop *l = data;
        source *s = source_get(l, dbus_watch_get_unix_fd(w), false);
        if (!s)
                return;
        for (int i = 0; i < MAX_WATCHES_PER_FD; i++)
                if (s->watches[i] == w)
                        s->watches[i] = NULL;
        (void) source_sync(l, s);
}

static void toggle_watch(DBusWatch *w, void *data) {
        loop *l = data;
        source *s = source_get(l, dbus_watch_get_unix_fd(w), false);
        if (s)
                (void) source_sync(l, s);
}

static timer *timer_find(loop *l, DBusTimeout *t) {
        for (size_t i = 0; i < l->n_timers; i++)
                if (l->timers[i]->timeout == t)
                        return l->timers[i];
        return NULL;
}

static void timer_arm(timer *t) {
        if (t->timeout)
                t->interval = (uint64_t) dbus_timeout_get_interval(t->timeout) * USEC_PER_MSEC;
        bool on = !t->timeout || dbus_timeout_get_enabled(t->timeout);
        t->deadline = on ? mono_usec() + t->interval : 0;
}

static int timer_push(loop *l, timer *t) {
        timer **n = realloc(l->timers, (l->n_timers + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        l->timers = n;
        l->timers[l->n_timers++] = t;
        timer_arm(t);
        return 0;
}

static dbus_bool_t add_timeout(DBusTimeout *to, void *data) {
        loop *l = data;
        timer *t = calloc(1, sizeof(*t));
        if (!t)
                return FALSE;
        t->timeout = to;
        if (timer_push(l, t) < 0) {
                free(t);
                return FALSE;
        }
        return TRUE;
}

static void remove_timeout(DBusTimeout *to, void *data) {
        loop *l = data;
        for (size_t i = 0; i < l->n_timers; i++)
                if (l->timers[i]->timeout == to) {
                        free(l->timers[i]);
                        l->timers[i] = l->timers[--l->n_timers];
                        return;
                }
}

static void toggle_timeout(DBusTimeout *to, void *data) {
        timer *t = timer_find(data, to);
        if (t)
                timer_arm(t);
}

int loop_attach_connection(loop *l, DBusConnection *c) {
        DBusConnection **n = realloc(l->conns, (l->n_conns + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        l->conns = n;
        l->conns[l->n_conns++] = c;
        if (!dbus_connection_set_watch_functions(c, add_watch, remove_watch, toggle_watch, l, NULL) ||
            !dbus_connection_set_timeout_functions(c, add_timeout, remove_timeout, toggle_timeout, l, NULL)) {
                loop_detach_connection(l, c);
                return -ENOMEM;
        }
        return 0;
}

void loop_detach_connection(loop *l, DBusConnection *c) {
        (void) dbus_connection_set_watch_functions(c, NULL, NULL, NULL, NULL, NULL);
        (void) dbus_connection_set_timeout_functions(c, NULL, NULL, NULL, NULL, NULL);
        for (size_t i = 0; i < l->n_conns; i++)
                if (l->conns[i] == c) {
                        l->conns[i] = l->conns[--l->n_conns];
                        break;
                }
}

int loop_add_fd(loop *l, int fd, uint32_t events, loop_fd_fn fn, void *userdata) {
        source *s = source_get(l, fd, true);
        if (!s)
                return -ENOMEM;
        s->fn = fn;
        s->userdata = userdata;
        s->events = events;
        int r = source_sync(l, s);
        if (r < 0) {
                /* Leave nothing that points to userdata, which the caller
                 * is about to free. */
                s->fn = NULL;
                s->userdata = NULL;
                (void) source_sync(l, s);
        }
        return r;
}

int loop_add_idle(loop *l, loop_idle_fn fn, void *userdata) {
        struct idle *n = realloc(l->idles, (l->n_idles + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        l->idles = n;
        l->idles[l->n_idles++] = (struct idle){ fn, userdata };
        return 0;
}

void loop_remove_idle(loop *l, loop_idle_fn fn, void *userdata) {
        for (size_t i = 0; i < l->n_idles; i++)
                if (l->idles[i].fn == fn && l->idles[i].userdata == userdata) {
                        l->idles[i] = l->idles[--l->n_idles];
                        return;
                }
}

/* Whether an idle hook has work left. */
static bool run_idles(loop *l) {
        bool busy = false;
        for (size_t i = 0; i < l->n_idles; i++)
                busy |= l->idles[i].fn(l, l->idles[i].userdata);
        return busy;
}

int loop_set_fd_events(loop *l, int fd, uint32_t events) {
        source *s = source_get(l, fd, false);
        if (!s || !s->fn)
                return -ENOENT;
        s->events = events;
        return source_sync(l, s);
}

void loop_forget_fd(loop *l, int fd) {
        source *s = source_get(l, fd, false);
        if (s && s->fn) {
                /* Closing the descriptor removes it from the epoll set. */
                s->registered = 0;
                loop_remove_fd(l, fd);
        }
}

void loop_remove_fd(loop *l, int fd) {
        source *s = source_get(l, fd, false);
        if (s && s->fn) {
                s->fn = NULL;
                s->userdata = NULL;
                (void) source_sync(l, s);
        }
}

int loop_add_timer(loop *l, uint64_t interval_usec, loop_timer_fn fn, void *userdata) {
        timer *t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->fn = fn;
        t->userdata = userdata;
        t->interval = interval_usec;
        int r = timer_push(l, t);
        if (r < 0)
                free(t);
        return r;
}

void loop_quit(loop *l, int code) {
        /* The first reason to stop wins: a bus that goes away while we
         * shut down on SIGTERM is still a clean exit. */
        if (!l->quit)
                l->code = code;
        l->quit = true;
}

static void handle_source(loop *l, int fd, uint32_t ev) {
        source *s = source_get(l, fd, false);
        if (!s)
                return;
        if (s->fn) {
                s->fn(l, fd, ev, s->userdata);
                return;
        }
        unsigned flags = 0;
        if (ev & EPOLLIN)
                flags |= DBUS_WATCH_READABLE;
        if (ev & EPOLLOUT)
                flags |= DBUS_WATCH_WRITABLE;
        if (ev & EPOLLHUP)
                flags |= DBUS_WATCH_HANGUP;
        if (ev & EPOLLERR)
                flags |= DBUS_WATCH_ERROR;
        /* Handling one watch may remove the others (and the source). */
        DBusWatch *ws[MAX_WATCHES_PER_FD];
        memcpy(ws, s->watches, sizeof(ws));
        for (int i = 0; i < MAX_WATCHES_PER_FD; i++) {
                source *cur = source_get(l, fd, false);
                if (!ws[i] || !cur)
                        continue;
                bool still = false;
                for (int k = 0; k < MAX_WATCHES_PER_FD; k++)
                        still = still || cur->watches[k] == ws[i];
                if (!still || !dbus_watch_get_enabled(ws[i]))
                        continue;
                unsigned want = dbus_watch_get_flags(ws[i]) | DBUS_WATCH_HANGUP | DBUS_WATCH_ERROR;
                if (flags & want)
                        (void) dbus_watch_handle(ws[i], flags & want);
        }
}

static int next_timeout_ms(loop *l) {
        uint64_t now = mono_usec(), min = UINT64_MAX;
        for (size_t i = 0; i < l->n_timers; i++)
                if (l->timers[i]->deadline && l->timers[i]->deadline < min)
                        min = l->timers[i]->deadline;
        if (min == UINT64_MAX)
                return -1;
        if (min <= now)
                return 0;
        uint64_t ms = (min - now + 999) / 1000;
        return ms > INT32_MAX ? INT32_MAX : (int) ms;
}

static void run_timers(loop *l) {
        uint64_t now = mono_usec();
        /* A callback may add or remove timers: restart the scan after each. */
        for (bool again = true; again;) {
                again = false;
                for (size_t i = 0; i < l->n_timers; i++) {
                        timer *t = l->timers[i];
                        if (!t->deadline || t->deadline > now)
                                continue;
                        if (t->timeout) {
                                DBusTimeout *to = t->timeout;
                                timer_arm(t);
                                (void) dbus_timeout_handle(to);
                        } else {
                                timer_arm(t);
                                t->fn(l, t->userdata);
                        }
                        again = true;
                        break;
                }
        }
}

static void dispatch_all(loop *l) {
        /* Dispatching may detach connections: iterate over a copy. */
        size_t n = l->n_conns;
        DBusConnection **copy = malloc(n * sizeof(*copy) + 1);
        if (!copy)
                return;
        memcpy(copy, l->conns, n * sizeof(*copy));
        for (size_t i = 0; i < n; i++) {
                bool attached = false;
                for (size_t k = 0; k < l->n_conns && !attached; k++)
                        attached = l->conns[k] == copy[i];
                if (!attached)
                        continue;
                dbus_connection_ref(copy[i]);
                while (dbus_connection_get_dispatch_status(copy[i]) == DBUS_DISPATCH_DATA_REMAINS)
                        (void) dbus_connection_dispatch(copy[i]);
                dbus_connection_unref(copy[i]);
        }
        free(copy);
}

void loop_set_busy_poll(loop *l, unsigned usec) {
        l->busy_poll_usec = usec;
}

/* A client that waits for each answer sends its next call a wakeup's time
 * after the answer; on a VM a wakeup costs 25-35 µs each way, which a short
 * look saves both sides.  0 when nothing came. */
static int busy_poll(loop *l, struct epoll_event *evs, int max) {
        uint64_t end = mono_usec() + l->busy_poll_usec;
        int n;
        while ((n = epoll_wait(l->epfd, evs, max, 0)) == 0 && mono_usec() < end)
                (void) sched_yield();
        return n;
}

int loop_run(loop *l) {
        struct epoll_event evs[32];

        while (!l->quit) {
                dispatch_all(l);
                bool busy = run_idles(l);
                if (l->quit)
                        break;
                int n = 0;
                if (l->busy_poll_usec && l->had_work && !busy)
                        n = busy_poll(l, evs, ELEMENTSOF(evs));
                if (n == 0)
                        n = epoll_wait(l->epfd, evs, ELEMENTSOF(evs), busy ? 0 : next_timeout_ms(l));
                l->had_work = n > 0;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("epoll_wait: %m");
                        return -errno;
                }
                for (int i = 0; i < n; i++)
                        handle_source(l, evs[i].data.fd, evs[i].events);
                run_timers(l);
        }
        dispatch_all(l);
        return l->code;
}
