/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "peer.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"
#include "wire.h"

/* The D-Bus specification's limit on a message (2^27 bytes); a reply that
 * claims more is a broken stream. */
#define PEER_MAX_MESSAGE (128u * 1024 * 1024)
/* The longest SASL line we accept from the server ("OK " + 32 hex digits). */
#define PEER_MAX_AUTH_LINE 256
/* On the private socket, how long to look for the answer, giving the CPU
 * to anyone who wants it (sched_yield), before sleeping in poll(): the
 * daemon answers an Authenticate in about 15 µs of its time, while a
 * sleeper's wakeup costs 25-35 µs on a VM (docs/PERFORMANCE.md). */
#define PEER_SPIN_USEC 30

struct peer_conn {
        int fd;
        bool bus;       /* Hello goes first; signals from the bus are skipped */
        uid_t uid;      /* the effective UID at connect(), which SO_PEERCRED holds */
        bool auth_sent; /* the handshake went out with the first call */
        bool auth_done; /* the server's OK has been read */
        dbus_uint32_t serial, hello_serial;
        char *in;
        size_t in_len, in_cap;
};

static int connect_unix(const char *name, size_t n, bool abstract, bool bus, peer_conn **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (n == 0 || n + !abstract > sizeof(sa.sun_path) - abstract)
                return -EINVAL;
        memcpy(sa.sun_path + abstract, name, n);
        socklen_t salen =
                (socklen_t) (offsetof(struct sockaddr_un, sun_path) + abstract + n + !abstract);

        _cleanup_(closep) int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A Unix socket connects at once or not at all: EAGAIN is a full
         * backlog, an overloaded daemon the caller may skip for the bus. */
        if (connect(fd, (struct sockaddr *) &sa, salen) < 0)
                return errno == ENOMEM || errno == ENOBUFS ? -ENOMEM : -ECONNREFUSED;

        /* On the private socket the secret goes to whoever listens: only
         * the daemon (root) or a test daemon of our own UID may.  (A bus
         * daemon runs as its own user; the bus policy decides who may own
         * the daemon's name.) */
        struct ucred cred;
        socklen_t len = sizeof(cred);
        uid_t euid = geteuid();
        if (!bus && (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
                     (cred.uid != 0 && cred.uid != euid)))
                return -ECONNREFUSED;

        peer_conn *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = fd;
        p->bus = bus;
        p->uid = euid;
        fd = -1;
        *ret = p;
        return 0;
}

int peer_connect(const char *path, peer_conn **ret) {
        return connect_unix(path, strlen(path), false, false, ret);
}

int peer_connect_bus(const char *address, peer_conn **ret) {
        DBusAddressEntry **entries;
        DBusError e = DBUS_ERROR_INIT;
        int n, r = -EINVAL;

        if (!dbus_parse_address(address, &entries, &n, &e)) {
                dbus_error_free(&e);
                return -EINVAL;
        }
        /* The entries are alternatives, tried in order. */
        for (int i = 0; i < n && r < 0 && r != -ENOMEM; i++) {
                if (!streq(dbus_address_entry_get_method(entries[i]), "unix"))
                        continue;
                const char *path = dbus_address_entry_get_value(entries[i], "path");
                const char *abstract = dbus_address_entry_get_value(entries[i], "abstract");
                if (path)
                        r = connect_unix(path, strlen(path), false, true, ret);
                else if (abstract)
                        r = connect_unix(abstract, strlen(abstract), true, true, ret);
        }
        dbus_address_entries_free(entries);
        return r;
}

peer_conn *peer_close(peer_conn *p) {
        if (p) {
                if (p->fd >= 0)
                        (void) close(p->fd);
                /* Replies may have carried a new secret. */
                if (p->in)
                        erase_mem(p->in, p->in_cap);
                free(p->in);
                free(p);
        }
        return NULL;
}

/* Milliseconds left until deadline (µs, monotonic), rounded up; 0 when
 * it has passed. */
static int ms_left(uint64_t deadline) {
        uint64_t now = mono_usec();
        if (now >= deadline)
                return 0;
        uint64_t ms = (deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return ms > INT32_MAX ? INT32_MAX : (int) ms;
}

/* Looks for readable input for up to usec, yielding the CPU in between;
 * true when it came. */
static bool spin_for_input(int fd, unsigned usec) {
        uint64_t end = mono_usec() + usec;
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        do {
                if (poll(&pfd, 1, 0) > 0)
                        return true;
                (void) sched_yield();
        } while (mono_usec() < end);
        return false;
}

static int wait_for(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = events };
                int left = ms_left(deadline);
                if (left == 0)
                        return -ETIMEDOUT;
                int r = poll(&pfd, 1, left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                return 0;
        }
}

static int write_all(peer_conn *p, const char *buf, size_t len, uint64_t deadline) {
        while (len > 0) {
                ssize_t n = send(p->fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        int r = wait_for(p->fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n < 0)
                        return errno == ENOMEM || errno == ENOBUFS ? -ENOMEM : -ECONNREFUSED;
                buf += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Reads more of the stream into p->in, waiting until deadline. */
static int read_more(peer_conn *p, uint64_t deadline) {
        if (p->in_cap - p->in_len < 4096) {
                size_t cap = MAX(p->in_cap * 2, (size_t) 16384);
                if (cap > PEER_MAX_MESSAGE + 65536)
                        return -EIO;
                char *n = malloc(cap);
                if (!n)
                        return -ENOMEM;
                if (p->in) {
                        memcpy(n, p->in, p->in_len);
                        erase_mem(p->in, p->in_cap);
                        free(p->in);
                }
                p->in = n;
                p->in_cap = cap;
        }
        for (;;) {
                ssize_t n = recv(p->fd, p->in + p->in_len, p->in_cap - p->in_len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        /* Not on a bus: an answer there takes two hops. */
                        uint64_t now = mono_usec();
                        if (!p->bus && now < deadline &&
                            spin_for_input(p->fd, (unsigned) MIN((uint64_t) PEER_SPIN_USEC, deadline - now)))
                                continue;
                        int r = wait_for(p->fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n <= 0) /* dropped before answering */
                        return -ECONNREFUSED;
                p->in_len += (size_t) n;
                return 0;
        }
}

/* Removes the first n bytes of the input, wiping them. */
static void consume(peer_conn *p, size_t n) {
        memmove(p->in, p->in + n, p->in_len - n);
        erase_mem(p->in + p->in_len - n, n);
        p->in_len -= n;
}

/* Reads the server's answer to the handshake: OK, or a refusal. */
static int read_auth(peer_conn *p, uint64_t deadline) {
        for (;;) {
                char *eol = p->in_len ? memmem(p->in, p->in_len, "\r\n", 2) : NULL;
                if (eol) {
                        bool ok = eol - p->in >= 3 && memcmp(p->in, "OK ", 3) == 0;
                        consume(p, (size_t) (eol - p->in) + 2);
                        if (!ok) /* REJECTED or ERROR: this daemon will not serve us */
                                return -ECONNREFUSED;
                        p->auth_done = true;
                        return 0;
                }
                if (p->in_len > PEER_MAX_AUTH_LINE)
                        return -EIO;
                int r = read_more(p, deadline);
                if (r < 0)
                        return r;
        }
}

/* Reads the next whole message: *ret (malloc'ed) and its length. */
static int read_message(peer_conn *p, uint64_t deadline, uint8_t **ret, size_t *ret_len) {
        for (;;) {
                if (p->in_len >= WIRE_HEADER_MIN) {
                        /* libdbus reads the lengths as 32-bit words: from
                         * aligned memory. */
                        uint64_t fixed[WIRE_HEADER_MIN / 8];
                        memcpy(fixed, p->in, WIRE_HEADER_MIN);
                        int need = dbus_message_demarshal_bytes_needed((const char *) fixed,
                                                                       WIRE_HEADER_MIN);
                        if (need < 0 || (size_t) need > PEER_MAX_MESSAGE)
                                return -EIO;
                        if (need > 0 && (size_t) need <= p->in_len) {
                                uint8_t *m = malloc((size_t) need);
                                if (!m)
                                        return -ENOMEM;
                                memcpy(m, p->in, (size_t) need);
                                consume(p, (size_t) need);
                                *ret = m;
                                *ret_len = (size_t) need;
                                return 0;
                        }
                }
                int r = read_more(p, deadline);
                if (r < 0)
                        return r;
        }
}

/* The type and reply serial of a message: read by the wire reader, or by
 * libdbus for one beyond it. */
static int message_kind(const uint8_t *m, size_t len, uint8_t *ret_type,
                        uint32_t *ret_reply_serial) {
        wire_header h;
        wire_reader body;
        if (wire_parse(m, len, &h, &body) == 0) {
                *ret_type = h.type;
                *ret_reply_serial = h.reply_serial;
                return 0;
        }
        DBusError e = DBUS_ERROR_INIT;
        DBusMessage *msg = dbus_message_demarshal((const char *) m, (int) len, &e);
        if (!msg) {
                bool oom = dbus_error_has_name(&e, DBUS_ERROR_NO_MEMORY);
                dbus_error_free(&e);
                return oom ? -ENOMEM : -EIO;
        }
        *ret_type = (uint8_t) dbus_message_get_type(msg);
        *ret_reply_serial = dbus_message_get_reply_serial(msg);
        dbus_message_unref(msg);
        return 0;
}

/* Hello must be a bus client's first message; its answer is read and
 * checked before our call's. */
static int append_hello(peer_conn *p, char *buf, size_t size, size_t *len) {
        wire_header h = { .type = WIRE_METHOD_CALL,
                          .serial = p->hello_serial,
                          .path = DBUS_PATH_DBUS,
                          .interface = DBUS_INTERFACE_DBUS,
                          .member = "Hello",
                          .destination = DBUS_SERVICE_DBUS };
        uint8_t *m;
        size_t n;
        int r = wire_message(&h, NULL, &m, &n);
        if (r < 0)
                return r;
        if (n <= size - *len) {
                memcpy(buf + *len, m, n);
                *len += n;
        } else
                r = -ENOMEM;
        free(m);
        return r;
}

uint32_t peer_next_serial(peer_conn *p) {
        /* On a bus the first serial is Hello's. */
        if (p->bus && !p->hello_serial)
                p->hello_serial = ++p->serial;
        return ++p->serial;
}

int peer_exchange(peer_conn *p, const void *call, size_t len, uint32_t serial, int timeout_ms,
                  uint8_t **ret_reply, size_t *ret_len) {
        static const char auth_prefix[] = "AUTH EXTERNAL ";
        uint64_t deadline = mono_usec() + (uint64_t) timeout_ms * USEC_PER_MSEC;
        char auth[512];
        size_t auth_len = 0;
        int r;

        if (p->fd < 0)
                return -ECONNREFUSED;
        if (!p->auth_sent) {
                /* SASL EXTERNAL: a NUL byte, then our UID as hex-encoded
                 * decimal digits, which the server checks against
                 * SO_PEERCRED; BEGIN without waiting for OK. */
                char uid[16];
                int n = snprintf(uid, sizeof(uid), "%u", (unsigned) p->uid);
                auth[auth_len++] = '\0';
                memcpy(auth + auth_len, auth_prefix, sizeof(auth_prefix) - 1);
                auth_len += sizeof(auth_prefix) - 1;
                for (int i = 0; i < n; i++)
                        auth_len += (size_t) snprintf(auth + auth_len, 3, "%02x",
                                                      (unsigned char) uid[i]);
                memcpy(auth + auth_len, "\r\nBEGIN\r\n", 9);
                auth_len += 9;
                if (p->bus && (r = append_hello(p, auth, sizeof(auth), &auth_len)) < 0)
                        return r;
        }

        /* One write for the handshake and the call: a login is one round
         * trip. */
        char *out = malloc(auth_len + len);
        if (!out)
                return -ENOMEM;
        memcpy(out, auth, auth_len);
        memcpy(out + auth_len, call, len);
        r = write_all(p, out, auth_len + len, deadline);
        erase_mem(out, auth_len + len);
        free(out);
        if (r < 0)
                goto broken;
        p->auth_sent = true;

        if (!p->auth_done && (r = read_auth(p, deadline)) < 0)
                goto broken;
        for (;;) {
                uint8_t *m, type;
                size_t n;
                uint32_t reply_serial;
                if ((r = read_message(p, deadline, &m, &n)) < 0)
                        goto broken;
                if ((r = message_kind(m, n, &type, &reply_serial)) < 0) {
                        erase_mem(m, n);
                        free(m);
                        goto broken;
                }
                if (type == WIRE_ERROR && p->hello_serial && reply_serial == p->hello_serial) {
                        /* The bus would not have us. */
                        free(m);
                        r = -ECONNREFUSED;
                        goto broken;
                }
                /* Anything else (the bus's signals, a late reply to a call
                 * that timed out) is not ours. */
                if ((type == WIRE_METHOD_RETURN || type == WIRE_ERROR) && reply_serial == serial) {
                        *ret_reply = m;
                        *ret_len = n;
                        return 0;
                }
                /* A late reply may carry a secret (CreateKey's). */
                erase_mem(m, n);
                free(m);
        }

broken:
        /* Past a timeout, a half-written call or a garbled stream the
         * connection is not used again. */
        (void) close(p->fd);
        p->fd = -1;
        return r;
}

int peer_call(peer_conn *p, DBusMessage *m, int timeout_ms, DBusMessage **ret_reply) {
        uint32_t serial = peer_next_serial(p);
        char *wire = NULL;
        int wire_len = 0;
        uint8_t *reply;
        size_t reply_len;

        dbus_message_set_serial(m, serial);
        if (!dbus_message_marshal(m, &wire, &wire_len))
                return -ENOMEM;
        int r = peer_exchange(p, wire, (size_t) wire_len, serial, timeout_ms, &reply, &reply_len);
        /* CreateKey's and RotateSecret's replies carry the new secret. */
        erase_mem(wire, (size_t) wire_len);
        dbus_free(wire);
        if (r < 0)
                return r;
        DBusError e = DBUS_ERROR_INIT;
        *ret_reply = dbus_message_demarshal((const char *) reply, (int) reply_len, &e);
        erase_mem(reply, reply_len);
        free(reply);
        if (!*ret_reply) {
                bool oom = dbus_error_has_name(&e, DBUS_ERROR_NO_MEMORY);
                dbus_error_free(&e);
                return oom ? -ENOMEM : -EIO;
        }
        return 0;
}
