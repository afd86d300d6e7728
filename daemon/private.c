/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The private socket, served without a libdbus connection per client.
 *
 * A login makes one connection and one call.  Served by DBusServer, each
 * connection cost the daemon a DBusConnection, its transport, its SASL
 * state machine and a dozen watch toggles (epoll_ctl calls) before the
 * first message; here a connection is a descriptor, two buffers and the
 * few lines of SASL EXTERNAL that the D-Bus specification asks of a
 * server.  Messages are still parsed, validated and built by libdbus
 * (dbus_message_demarshal/marshal), and every method is the Manager's, the
 * same code as on the bus.
 */
#include "private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"
#include "util.h"

/* A peer sends requests of a few hundred bytes; a megabyte bounds what a
 * misbehaving client can make us buffer. */
#define PEER_MAX_MESSAGE (1024 * 1024)
/* Replies a peer does not read pile up in our outgoing buffer: past this,
 * the peer is dropped rather than served. */
#define PEER_MAX_OUTGOING (1024 * 1024)
/* A connection must finish the EXTERNAL handshake within this. */
#define PEER_AUTH_DEADLINE (5 * USEC_PER_SEC)
/* A message, once begun, must arrive whole within this, and replies must
 * be taken within it: a client writes a request in one go and reads its
 * answer at once, and one that stops half-way would otherwise hold its
 * buffers (up to a megabyte each way) for as long as it keeps the
 * connection open. */
#define PEER_MESSAGE_DEADLINE (5 * USEC_PER_SEC)
/* What the input and output buffers of UIDs other than root hold beyond
 * PEER_KEEP_BUFFER each, all connections together: within the deadlines,
 * many UIDs (subordinate ones too) with 64 connections each could
 * otherwise make us hold a gigabyte.  Requests fit in PEER_KEEP_BUFFER, so
 * only a client sending more, or not reading its replies, draws on it;
 * root's connections (sshd, su, login) do not, and are served whatever
 * others hold. */
#define PRIVATE_MAX_HELD (16 * 1024 * 1024)
/* Connections one non-root UID may hold; root (sshd, su, login) serves
 * every user and is bounded by PRIVATE_MAX_CONNECTIONS alone. */
#define PEER_MAX_PER_UID 64
/* The longest SASL line, how many refusals a client gets, how many lines
 * it may send in all, and how much of our answers it may leave unread
 * before BEGIN. */
#define PEER_MAX_AUTH_LINE 1024
#define PEER_MAX_AUTH_TRIES 8
#define PEER_MAX_AUTH_LINES 16
#define PEER_MAX_AUTH_OUTPUT 4096
/* Bytes read from, and messages handled for, one peer per wakeup, so that
 * one busy client does not starve the others; what is left waits for the
 * next turn of the loop. */
#define PEER_READ_CHUNK 65536
#define PEER_MESSAGES_PER_TURN 32
/* Slots that only root's connections (sshd, su, login) may take, so that
 * users, with however many UIDs (subordinate ones included), cannot shut
 * logins out. */
#define PRIVATE_ROOT_RESERVE 256
/* What a buffer starts with and keeps; a larger one is given back once
 * empty. */
#define PEER_KEEP_BUFFER 4096

typedef enum peer_state {
        PEER_NUL,  /* waiting for the credentials byte */
        PEER_AUTH, /* SASL lines */
        PEER_OPEN, /* D-Bus messages */
} peer_state;

typedef struct peer {
        private_server *srv;
        uint64_t id; /* for replies that come after a change is on disk */
        int fd;
        uint32_t uid; /* SO_PEERCRED at accept: the caller, for every call */
        uint64_t accepted_at;
        uint64_t partial_since; /* a message is unfinished since; 0: none */
        uint64_t unsent_since;  /* replies wait for the peer since; 0: none */
        size_t charged;         /* this peer's part of private_server.held */
        peer_state state;
        bool ok_sent, want_data;
        unsigned tries, lines;
        dbus_uint32_t serial;
        uint32_t events;
        bool pending;   /* whole messages left for the next turn */
        bool who_known; /* who is valid for manager generation who_gen */
        unsigned who_gen;
        caller who;
        char *in; /* unread input is in[in_off, in_len) */
        size_t in_off, in_len, in_cap;
        char *out; /* unsent output is out[out_off, out_len) */
        size_t out_off, out_len, out_cap;
} peer;

struct private_server {
        loop *l;
        manager *m;
        int fd;
        char *path;
        bool paused; /* out of descriptors: not accepting until the next expire */
        uint64_t warned_at;
        unsigned suppressed; /* warnings not logged since warned_at */
        size_t held;         /* buffers of non-root peers past PEER_KEEP_BUFFER */
        char guid[33];
        peer **peers;
        size_t n_peers;
        uint64_t next_id;
};

static void peer_free(peer *e) {
        /* Both buffers may have held secrets: requests to Authenticate,
         * replies of CreateKey and RotateSecret. */
        if (e->in)
                erase_mem(e->in, e->in_cap);
        if (e->out)
                erase_mem(e->out, e->out_cap);
        free(e->in);
        free(e->out);
        free(e);
}

static void drop(private_server *p, peer *e) {
        p->held -= e->charged;
        for (size_t i = 0; i < p->n_peers; i++)
                if (p->peers[i] == e) {
                        p->peers[i] = p->peers[--p->n_peers];
                        break;
                }
        /* close() takes it out of the epoll set: no EPOLL_CTL_DEL. */
        loop_forget_fd(p->l, e->fd);
        (void) close(e->fd);
        peer_free(e);
}

/* Any local user can make these warnings: at most one a second. */
#define peer_warning(p, fmt, ...)                                                                  \
        do {                                                                                       \
                uint64_t now_ = mono_usec();                                                       \
                if (now_ - (p)->warned_at >= USEC_PER_SEC) {                                       \
                        if ((p)->suppressed)                                                       \
                                log_warning("private socket: " fmt                                 \
                                            " (and %u more warnings in the last "                  \
                                            "second)",                                             \
                                            ##__VA_ARGS__, (p)->suppressed);                       \
                        else                                                                       \
                                log_warning("private socket: " fmt, ##__VA_ARGS__);                \
                        (p)->warned_at = now_;                                                     \
                        (p)->suppressed = 0;                                                       \
                } else                                                                             \
                        (p)->suppressed++;                                                         \
        } while (0)

/* Keeps private_server.held up to date after a buffer of e changed size. */
static void account(peer *e) {
        size_t c = 0;
        if (e->uid != 0)
                c = (e->in_cap > PEER_KEEP_BUFFER ? e->in_cap - PEER_KEEP_BUFFER : 0) +
                    (e->out_cap > PEER_KEEP_BUFFER ? e->out_cap - PEER_KEEP_BUFFER : 0);
        e->srv->held = e->srv->held - e->charged + c;
        e->charged = c;
}

/* Whether e, not root, is to be dropped rather than served more, because
 * the clients other than root hold more than PRIVATE_MAX_HELD and e some
 * of it (or replies it has not taken yet). */
static bool over_budget(const peer *e) {
        return e->uid != 0 && e->srv->held > PRIVATE_MAX_HELD &&
               (e->charged > 0 || e->out_len > e->out_off);
}

/* Makes room for n more bytes at the end of a buffer of at most max. */
static int reserve(char **buf, size_t *cap, size_t len, size_t n, size_t max) {
        if (*cap - len >= n)
                return 0;
        if (len + n > max)
                return -E2BIG;
        size_t c = MAX(*cap * 2, MAX(len + n, (size_t) PEER_KEEP_BUFFER));
        c = MIN(c, max);
        char *b = malloc(c);
        if (!b)
                return -ENOMEM;
        if (*buf) {
                memcpy(b, *buf, len);
                erase_mem(*buf, *cap);
                free(*buf);
        }
        *buf = b;
        *cap = c;
        return 0;
}

/* Queues bytes for the peer.  The backlog is checked before each message
 * is handled (see process()), so one reply may pass PEER_MAX_OUTGOING:
 * ListKeys of many keys is larger. */
static int queue(peer *e, const void *data, size_t n) {
        if (e->out_off > 0) {
                memmove(e->out, e->out + e->out_off, e->out_len - e->out_off);
                erase_mem(e->out + e->out_len - e->out_off, e->out_off);
                e->out_len -= e->out_off;
                e->out_off = 0;
        }
        if (e->out_len > PEER_MAX_OUTGOING)
                return -E2BIG;
        int r = reserve(&e->out, &e->out_cap, e->out_len, n, e->out_len + n);
        account(e);
        if (r < 0)
                return r;
        memcpy(e->out + e->out_len, data, n);
        e->out_len += n;
        return 0;
}

static int queue_line(peer *e, const char *line) {
        return queue(e, line, strlen(line));
}

/* Serials are never 0, also after 2^32 replies on one connection. */
static uint32_t next_serial(peer *e) {
        if (++e->serial == 0)
                e->serial = 1;
        return e->serial;
}

static int queue_message(peer *e, DBusMessage *m) {
        char *wire;
        int len;

        dbus_message_set_serial(m, next_serial(e));
        if (!dbus_message_marshal(m, &wire, &len))
                return -ENOMEM;
        int r = queue(e, wire, (size_t) len);
        erase_mem(wire, (size_t) len);
        dbus_free(wire);
        return r;
}

/* Writes what is queued; asks for EPOLLOUT while some is left. */
static int flush(peer *e) {
        while (e->out_off < e->out_len) {
                ssize_t n = send(e->fd, e->out + e->out_off, e->out_len - e->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n < 0)
                        return -errno;
                e->out_off += (size_t) n;
        }
        if (e->out_off == e->out_len) {
                erase_mem(e->out, e->out_len);
                e->out_off = e->out_len = 0;
                e->unsent_since = 0;
                if (e->out_cap > PEER_KEEP_BUFFER) {
                        /* After a large reply (ListKeys): give it back. */
                        free(e->out);
                        e->out = NULL;
                        e->out_cap = 0;
                        account(e);
                }
        } else if (!e->unsent_since)
                e->unsent_since = mono_usec();
        uint32_t want = EPOLLIN | (e->out_len ? EPOLLOUT : 0);
        if (want != e->events) {
                int r = loop_set_fd_events(e->srv->l, e->fd, want);
                if (r < 0)
                        return r;
                e->events = want;
        }
        return 0;
}

/* The first n bytes of the unread input are done with: wiped, and
 * skipped (compact() moves the rest, once a turn). */
static void consume(peer *e, size_t n) {
        erase_mem(e->in + e->in_off, n);
        e->in_off += n;
}

static void compact(peer *e) {
        size_t left = e->in_len - e->in_off;
        if (e->in_off > 0) {
                memmove(e->in, e->in + e->in_off, left);
                erase_mem(e->in + left, e->in_off);
                e->in_len = left;
                e->in_off = 0;
        }
        if (left == 0 && e->in_cap > PEER_KEEP_BUFFER) {
                erase_mem(e->in, e->in_cap);
                free(e->in);
                e->in = NULL;
                e->in_cap = e->in_len = 0;
                account(e);
        }
}

static int hex_digit(char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
}

/* Whether hex is the hex-encoded decimal UID of the peer, as EXTERNAL
 * has the client say who it is; the kernel's word (SO_PEERCRED) decides. */
static bool claims_own_uid(const peer *e, const char *hex, size_t len) {
        char digits[16];
        size_t n = 0;

        if (len == 0 || len % 2 || len / 2 >= sizeof(digits))
                return false;
        for (size_t i = 0; i < len; i += 2) {
                int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
                if (hi < 0 || lo < 0 || hi * 16 + lo < '0' || hi * 16 + lo > '9')
                        return false;
                digits[n++] = (char) (hi * 16 + lo);
        }
        digits[n] = 0;
        if (n > 1 && digits[0] == '0')
                return false;
        return strtoull(digits, NULL, 10) == e->uid;
}

static int accept_auth(peer *e) {
        char line[64];
        snprintf(line, sizeof(line), "OK %s\r\n", e->srv->guid);
        e->ok_sent = true;
        e->want_data = false;
        return queue_line(e, line);
}

static int reject_auth(peer *e) {
        e->ok_sent = e->want_data = false;
        if (++e->tries > PEER_MAX_AUTH_TRIES)
                return -EACCES;
        return queue_line(e, "REJECTED EXTERNAL\r\n");
}

/* One SASL line from the client (without CRLF).  The server side of the
 * D-Bus specification's "Authentication protocol", EXTERNAL only. */
static int auth_line(peer *e, char *line, size_t len) {
        line[len] = 0;
        if (strncmp(line, "AUTH", 4) == 0 && (len == 4 || line[4] == ' ')) {
                const char *mech = len > 4 ? line + 5 : "";
                if (strncmp(mech, "EXTERNAL", 8) != 0 || (mech[8] && mech[8] != ' '))
                        return reject_auth(e);
                if (!mech[8]) {
                        /* No initial response: ask for it; an empty one
                         * means "whoever the socket says I am". */
                        e->want_data = true;
                        return queue_line(e, "DATA\r\n");
                }
                return claims_own_uid(e, mech + 9, strlen(mech + 9)) ? accept_auth(e)
                                                                     : reject_auth(e);
        }
        if (strncmp(line, "DATA", 4) == 0 && (len == 4 || line[4] == ' ') && e->want_data)
                return len <= 5 || claims_own_uid(e, line + 5, len - 5) ? accept_auth(e)
                                                                        : reject_auth(e);
        if (streq(line, "BEGIN")) {
                if (!e->ok_sent)
                        return -EACCES;
                e->state = PEER_OPEN;
                return 0;
        }
        if (streq(line, "CANCEL") || strncmp(line, "ERROR", 5) == 0)
                return reject_auth(e);
        if (streq(line, "NEGOTIATE_UNIX_FD") && e->ok_sent)
                /* No method takes a descriptor. */
                return queue_line(e, "ERROR \"file descriptors are not accepted here\"\r\n");
        if (++e->tries > PEER_MAX_AUTH_TRIES)
                return -EACCES;
        return queue_line(e, "ERROR \"unknown command\"\r\n");
}

static DBusMessage *peer_interface(DBusMessage *msg) {
        if (dbus_message_is_method_call(msg, DBUS_INTERFACE_PEER, "Ping"))
                return dbus_message_new_method_return(msg);
        if (dbus_message_is_method_call(msg, DBUS_INTERFACE_PEER, "GetMachineId")) {
                DBusError err = DBUS_ERROR_INIT;
                char *id = dbus_try_get_local_machine_id(&err);
                DBusMessage *reply =
                        id ? dbus_message_new_method_return(msg)
                           : dbus_message_new_error(msg, DBUS_ERROR_FAILED, err.message);
                if (reply && id &&
                    !dbus_message_append_args(reply, DBUS_TYPE_STRING, &id, DBUS_TYPE_INVALID)) {
                        dbus_message_unref(reply);
                        reply = NULL;
                }
                dbus_free(id);
                dbus_error_free(&err);
                return reply;
        }
        return NULL;
}

/* Who the peer is, for the Manager: its UID, and whether it is an
 * administrator, looked up once a connection (and again after a reload). */
static const caller *peer_caller(peer *e) {
        manager *m = e->srv->m;
        if (!e->who_known || e->who_gen != m->generation) {
                e->who = (caller){ e->uid, uid_is_admin(e->uid, m->cfg.admin_group) };
                e->who_gen = m->generation;
                e->who_known = true;
        }
        return &e->who;
}

static int handle_message(peer *e, DBusMessage *msg) {
        DBusMessage *reply = NULL;

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return 0;
        bool unknown;
        if (streq(strempty(dbus_message_get_interface(msg)), DBUS_INTERFACE_PEER)) {
                reply = peer_interface(msg);
                unknown = !reply;
        } else {
                bool deferred = false;
                unknown = manager_handle_peer(e->srv->m, peer_caller(e), e->id, msg, &reply, &deferred) ==
                          DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                if (deferred)
                        return 0; /* answered by private_deliver() */
        }
        if (unknown)
                reply = dbus_message_new_error_printf(
                        msg, DBUS_ERROR_UNKNOWN_METHOD, "no method %s.%s with signature '%s' on %s",
                        strempty(dbus_message_get_interface(msg)), dbus_message_get_member(msg),
                        dbus_message_get_signature(msg), dbus_message_get_path(msg));
        if (!reply)
                return dbus_message_get_no_reply(msg) ? 0 : -ENOMEM;
        int r = dbus_message_get_no_reply(msg) ? 0 : queue_message(e, reply);
        dbus_message_unref(reply);
        return r;
}

/* Authenticate, the call of every login, read and answered without
 * libdbus; -EBADMSG for any other message (or one the wire reader does
 * not take), which then goes through libdbus. */
static int authenticate_fast(peer *e, const char *msg, size_t len) {
        wire_header h;
        wire_reader body;
        uint8_t *out;
        size_t out_len;

        int r = wire_parse((const uint8_t *) msg, len, &h, &body);
        if (r < 0)
                return r;
        if (!manager_is_authenticate(&h))
                return -EBADMSG;
        uint32_t serial = e->serial;
        r = manager_authenticate_wire(e->srv->m, peer_caller(e), &h, &body, next_serial(e), &out,
                                      &out_len);
        if (r == -EBADMSG)
                e->serial = serial; /* not answered here */
        if (r < 0)
                return r;
        if (!(h.flags & WIRE_FLAG_NO_REPLY_EXPECTED))
                r = queue(e, out, out_len);
        erase_mem(out, out_len);
        free(out);
        return r;
}

/* Whether a client leaves too much of our answers unread to be served
 * more: during the handshake a few lines' worth, after it a megabyte (one
 * reply may be larger: ListKeys). */
static bool backlogged(const peer *e) {
        return e->out_len - e->out_off >
               (e->state == PEER_OPEN ? PEER_MAX_OUTGOING : PEER_MAX_AUTH_OUTPUT);
}

/* Handles at most budget of the peer's whole messages (and SASL lines).
 * 1: some are left for the next turn; 0: it waits for more input; a
 * negative errno: drop it. */
static int process(peer *e, unsigned budget) {
        private_server *p = e->srv;

        for (unsigned done = 0;; done++) {
                char *in = e->in + e->in_off;
                size_t len = e->in_len - e->in_off;

                if (done >= budget)
                        return len > 0;
                if (e->state == PEER_NUL) {
                        if (len == 0)
                                return 0;
                        /* The credentials byte: always NUL on Linux. */
                        if (in[0] != 0)
                                return -EPROTO;
                        consume(e, 1);
                        e->state = PEER_AUTH;
                } else if (e->state == PEER_AUTH) {
                        if (len == 0 || !in)
                                return 0;
                        char *eol =
                                memmem(in, MIN(len, (size_t) PEER_MAX_AUTH_LINE + 2), "\r\n", 2);
                        if (!eol)
                                return len > PEER_MAX_AUTH_LINE ? -EPROTO : 0;
                        size_t n = (size_t) (eol - in);
                        /* Every line costs: the OKs and DATAs a client
                         * could ask for again and again too. */
                        if (++e->lines > PEER_MAX_AUTH_LINES)
                                return -EACCES;
                        if (backlogged(e))
                                return -E2BIG;
                        int r = auth_line(e, in, n);
                        consume(e, n + 2);
                        if (r < 0)
                                return r;
                } else {
                        if (len < WIRE_HEADER_MIN)
                                return 0;
                        /* The fixed header, copied to aligned memory: input
                         * is consumed by offset, and libdbus reads the
                         * lengths as 32-bit words. */
                        uint64_t fixed[WIRE_HEADER_MIN / 8];
                        memcpy(fixed, in, WIRE_HEADER_MIN);
                        int need = dbus_message_demarshal_bytes_needed((const char *) fixed,
                                                                       WIRE_HEADER_MIN);
                        if (need < 0)
                                return -EBADMSG;
                        if (need > PEER_MAX_MESSAGE) {
                                peer_warning(
                                        p,
                                        "a client of UID %u sent a message of %d bytes (at most %d); dropped",
                                        e->uid, need, PEER_MAX_MESSAGE);
                                return -EMSGSIZE;
                        }
                        if (need == 0 || (size_t) need > len)
                                return 0;
                        if (backlogged(e))
                                return -E2BIG;
                        if (over_budget(e))
                                return -ENOBUFS;
                        int r = authenticate_fast(e, in, (size_t) need);
                        if (r != -EBADMSG) {
                                consume(e, (size_t) need);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        DBusError err = DBUS_ERROR_INIT;
                        DBusMessage *msg = dbus_message_demarshal(in, need, &err);
                        consume(e, (size_t) need);
                        if (!msg) {
                                peer_warning(
                                        p,
                                        "a client of UID %u sent a malformed message (%s); dropped",
                                        e->uid, err.message ? err.message : "out of memory");
                                dbus_error_free(&err);
                                return -EBADMSG;
                        }
                        r = handle_message(e, msg);
                        dbus_message_unref(msg);
                        if (r < 0)
                                return r;
                }
        }
}

/* After a turn: sends what is queued, keeps the rest for later, or drops
 * the peer (r < 0).  false when the peer is gone. */
static bool settle(peer *e, int r) {
        private_server *p = e->srv;

        if (r >= 0) {
                e->pending = r > 0;
                /* The deadline of an unfinished message runs from the turn
                 * that began it: a turn that took a whole message starts
                 * the next one's. */
                if (e->in_len == e->in_off || e->pending)
                        e->partial_since = 0;
                else if (e->in_off > 0 || !e->partial_since)
                        e->partial_since = mono_usec();
                compact(e);
                r = flush(e);
        }
        if (r == -E2BIG)
                peer_warning(p, "a client of UID %u does not read its replies; dropped", e->uid);
        else if (r == -ENOBUFS)
                peer_warning(
                        p,
                        "clients other than root hold %zu KiB in unfinished messages and unread "
                        "replies (at most %d KiB); dropped one of UID %u",
                        p->held / 1024, PRIVATE_MAX_HELD / 1024, e->uid);
        else if (r < 0)
                /* What this turn answered before the failure still goes
                 * out, as far as the socket takes it (a login decided and
                 * logged is not to be made again on the bus). */
                (void) flush(e);
        if (r < 0) {
                drop(p, e);
                return false;
        }
        return true;
}

static void on_peer(loop *l, int fd, uint32_t revents, void *userdata) {
        peer *e = userdata;
        int r = 0;

        /* Messages left over are on_idle()'s: one turn a round each. */
        if (e->pending) {
                if ((revents & EPOLLOUT) && flush(e) < 0)
                        drop(e->srv, e);
                return;
        }

        /* One read a wakeup, of at most PEER_READ_CHUNK; epoll is
         * level-triggered, so what is left in the socket wakes us again. */
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                compact(e);
                /* Room for a whole message at most: process() takes each
                 * as soon as it is complete. */
                if ((r = reserve(&e->in, &e->in_cap, e->in_len, PEER_KEEP_BUFFER,
                                 PEER_MAX_MESSAGE + PEER_READ_CHUNK)) < 0)
                        r = r == -E2BIG ? -EMSGSIZE : r;
                account(e);
                if (r == 0 && over_budget(e))
                        r = -ENOBUFS;
                for (; r == 0;) {
                        ssize_t n = recv(fd, e->in + e->in_len,
                                         MIN(e->in_cap - e->in_len, (size_t) PEER_READ_CHUNK),
                                         MSG_DONTWAIT);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno == EAGAIN)
                                break;
                        if (n <= 0)
                                r = n == 0 ? -ECONNRESET : -errno;
                        else
                                e->in_len += (size_t) n;
                        break;
                }
        }
        if (r == 0)
                r = process(e, PEER_MESSAGES_PER_TURN);
        (void) settle(e, r);
}

/* Peers with whole messages left over get another turn each time round the
 * loop, before it sleeps. */
static bool on_idle(loop *l, void *userdata) {
        private_server *p = userdata;
        bool busy = false;
        for (size_t i = 0; i < p->n_peers;) {
                peer *e = p->peers[i];
                if (!e->pending) {
                        i++;
                        continue;
                }
                if (!settle(e, process(e, PEER_MESSAGES_PER_TURN)))
                        continue; /* dropped: the last entry moved here */
                busy |= e->pending;
                i++;
        }
        return busy;
}

static size_t peers_of(const private_server *p, uint32_t uid) {
        size_t n = 0;
        for (size_t i = 0; i < p->n_peers; i++)
                n += p->peers[i]->uid == uid;
        return n;
}

/* One connection a wakeup: epoll is level-triggered, so a backlog wakes
 * us again, a single login costs no accept() that says EAGAIN, and a flood
 * of connections does not starve the clients already connected. */
static void on_listen(loop *l, int fd, uint32_t revents, void *userdata) {
        private_server *p = userdata;
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                        /* The backlog stays readable: without a pause
                         * this would spin.  Retried every second. */
                        log_warning(
                                "private socket: out of file descriptors (%m); not accepting for a second");
                        if (loop_set_fd_events(p->l, fd, 0) == 0)
                                p->paused = true;
                } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        peer_warning(p, "accept: %m");
                return;
        }
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid == (uid_t) -1) {
                (void) close(cfd);
                return;
        }
        if (p->n_peers >= PRIVATE_MAX_CONNECTIONS ||
            (cred.uid != 0 && p->n_peers >= PRIVATE_MAX_CONNECTIONS - PRIVATE_ROOT_RESERVE)) {
                peer_warning(p, "%zu connections open; refusing another of UID %u", p->n_peers,
                             (unsigned) cred.uid);
                (void) close(cfd);
                return;
        }
        if (cred.uid != 0 && peers_of(p, cred.uid) >= PEER_MAX_PER_UID) {
                peer_warning(p, "UID %u holds %d connections already; dropping another",
                             (unsigned) cred.uid, PEER_MAX_PER_UID);
                (void) close(cfd);
                return;
        }
        peer **n = realloc(p->peers, (p->n_peers + 1) * sizeof(*n));
        peer *e = n ? calloc(1, sizeof(*e)) : NULL;
        if (n)
                p->peers = n;
        if (!e) {
                (void) close(cfd);
                return;
        }
        *e = (peer){ .srv = p,
                     .id = ++p->next_id,
                     .fd = cfd,
                     .uid = cred.uid,
                     .accepted_at = mono_usec(),
                     .events = EPOLLIN };
        if (loop_add_fd(p->l, cfd, EPOLLIN, on_peer, e) < 0) {
                (void) close(cfd);
                peer_free(e);
                return;
        }
        p->peers[p->n_peers++] = e;
        /* A client sends its handshake and first call right after
         * connect(): read them now rather than after another epoll_wait(). */
        on_peer(l, cfd, EPOLLIN, e);
}

/* A reply made after its call returned: a change is on disk.  The peer
 * may have gone meanwhile; its reply (perhaps a new secret) is then
 * dropped, and wiped as every queued message is. */
static void private_deliver(void *userdata, uint64_t id, DBusMessage *reply) {
        private_server *p = userdata;

        for (size_t i = 0; i < p->n_peers; i++) {
                peer *e = p->peers[i];
                if (e->id != id)
                        continue;
                if (queue_message(e, reply) < 0 || flush(e) < 0)
                        drop(p, e);
                break;
        }
        dbus_message_unref(reply);
}

void private_expire(private_server *p) {
        uint64_t now = mono_usec();
        if (p && p->paused && loop_set_fd_events(p->l, p->fd, EPOLLIN) == 0)
                p->paused = false;
        /* Connections that never finished the handshake hold a slot and a
         * descriptor each: give them a few seconds; and as long to finish
         * a message, or to take their replies. */
        for (size_t i = 0; p && i < p->n_peers;) {
                peer *e = p->peers[i];
                if (e->state != PEER_OPEN && now - e->accepted_at > PEER_AUTH_DEADLINE)
                        drop(p, e); /* the last entry moved here */
                else if (e->state == PEER_OPEN && e->partial_since &&
                         now - e->partial_since > PEER_MESSAGE_DEADLINE) {
                        peer_warning(p,
                                     "a client of UID %u left a message unfinished for %d s (%zu "
                                     "bytes of it sent); dropped",
                                     e->uid, (int) (PEER_MESSAGE_DEADLINE / USEC_PER_SEC),
                                     e->in_len - e->in_off);
                        drop(p, e);
                } else if (e->unsent_since && now - e->unsent_since > PEER_MESSAGE_DEADLINE) {
                        peer_warning(
                                p, "a client of UID %u did not take its replies for %d s; dropped",
                                e->uid, (int) (PEER_MESSAGE_DEADLINE / USEC_PER_SEC));
                        drop(p, e);
                } else
                        i++;
        }
}

int private_start(loop *l, manager *m, const char *path, private_server **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        uint8_t id[16];
        int r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                log_error("private socket: %s is longer than a socket address allows (%zu bytes)",
                          path, sizeof(sa.sun_path) - 1);
                return -ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);

        /* A socket left by a previous run would make bind() fail.  We own
         * the bus name by now, so no other accesskeyd is serving it. */
        if (lstat(path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        log_error(
                                "private socket: %s exists and is not a socket; remove it or choose another path",
                                path);
                        return -EEXIST;
                }
                (void) unlink(path);
        }

        private_server *p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->l = l;
        p->m = m;
        m->peer_reply = private_deliver;
        m->peer_reply_userdata = p;
        p->fd = -1;
        /* The server's GUID that SASL's OK names; any random one will do. */
        if (getrandom(id, sizeof(id), 0) != sizeof(id)) {
                free(p);
                return -EIO;
        }
        for (size_t i = 0; i < sizeof(id); i++)
                snprintf(p->guid + 2 * i, 3, "%02x", id[i]);
        if (!(p->path = strdup(path))) {
                private_stop(p);
                return -ENOMEM;
        }
        p->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (p->fd < 0 || bind(p->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            listen(p->fd, SOMAXCONN) < 0) {
                r = -errno;
                log_error("private socket: cannot listen on %s: %m", path);
                if (p->fd >= 0) {
                        (void) close(p->fd);
                        p->fd = -1;
                }
                private_stop(p);
                return r;
        }
        /* Every local user may connect: logins run as many users. */
        if (chmod(path, 0666) < 0) {
                r = -errno;
                log_error("private socket: chmod %s: %m", path);
                private_stop(p);
                return r;
        }
        if ((r = loop_add_fd(l, p->fd, EPOLLIN, on_listen, p)) < 0 ||
            (r = loop_add_idle(l, on_idle, p)) < 0) {
                private_stop(p);
                return r;
        }
        log_info("serving %s on the private socket %s", AK_BUS_NAME, path);
        *ret = p;
        return 0;
}

private_server *private_stop(private_server *p) {
        if (!p)
                return NULL;
        loop_remove_idle(p->l, on_idle, p);
        if (p->m->peer_reply_userdata == p)
                p->m->peer_reply = NULL;
        while (p->n_peers > 0)
                drop(p, p->peers[0]);
        free(p->peers);
        if (p->fd >= 0) {
                loop_remove_fd(p->l, p->fd);
                (void) close(p->fd);
                (void) unlink(p->path);
        }
        free(p->path);
        free(p);
        return NULL;
}
