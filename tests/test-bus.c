/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accesskeyd against a bus that the test plays itself: a Unix socket that
 * answers the daemon's Hello, AddMatch and RequestName, delivers calls from
 * made-up unique names, and answers GetConnectionUnixUser only when the test
 * says so.  It shows what a real dbus-daemon cannot be made to show on
 * demand: the daemon never waits for the bus to say who is calling (the
 * private socket is served meanwhile); calls that wait are answered in the
 * order they came, as the UID the bus gave; that answer is kept per unique
 * name and forgotten when the name leaves; a name the bus cannot vouch for,
 * or an answer from anyone but the bus, is denied; and the calls that may
 * wait are bounded, in number and in bytes.
 */
#include <check.h>
#include <dbus/dbus.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "accesskey.h"
#include "errors.h"
#include "harness.h"
#include "util.h"

#define BUS_GUID "0123456789abcdef0123456789abcdef"
#define DAEMON_NAME ":1.1"
#define MAX_HELD 256

typedef struct fakebus {
        int listen_fd, fd;
        bool hung_up;
        uint8_t *buf;
        size_t len, cap;
        uint32_t serial;
        bool named;                     /* RequestName answered */
        DBusMessage *lookups[MAX_HELD]; /* GetConnectionUnixUser calls, unanswered */
        size_t n_lookups, lookups_seen;
        DBusMessage *out[MAX_HELD]; /* the daemon's replies to callers */
        size_t n_out;
} fakebus;

static harness h;
static fakebus fb;

static void fb_write(const void *p, size_t n);
static void fb_say(const char *line) {
        fb_write(line, strlen(line));
}

static void fb_write(const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t k = write(fb.fd, b, n);
                ck_assert_msg(k > 0, "writing to the daemon: %s", strerror(errno));
                b += k;
                n -= (size_t) k;
        }
}

/* Sends m with the next serial, as the bus would (sender set). */
static uint32_t fb_send(DBusMessage *m, const char *sender) {
        char *bytes;
        int len;
        ck_assert(dbus_message_set_sender(m, sender));
        ck_assert(dbus_message_set_destination(m, DAEMON_NAME));
        dbus_message_set_serial(m, ++fb.serial);
        ck_assert(dbus_message_marshal(m, &bytes, &len));
        fb_write(bytes, (size_t) len);
        dbus_free(bytes);
        return fb.serial;
}

static void fb_reply(DBusMessage *call, int first_type, ...) {
        DBusMessage *r = dbus_message_new_method_return(call);
        va_list ap;
        ck_assert_ptr_nonnull(r);
        va_start(ap, first_type);
        ck_assert(dbus_message_append_args_valist(r, first_type, ap));
        va_end(ap);
        fb_send(r, DBUS_SERVICE_DBUS);
        dbus_message_unref(r);
}

static void fb_handle(DBusMessage *m) {
        const char *member = dbus_message_get_member(m);
        bool to_bus = streq(strempty(dbus_message_get_destination(m)), DBUS_SERVICE_DBUS);

        if (dbus_message_get_type(m) == DBUS_MESSAGE_TYPE_SIGNAL)
                return; /* KeyCreated and such, to whoever listens */
        if (!to_bus || dbus_message_get_type(m) != DBUS_MESSAGE_TYPE_METHOD_CALL) {
                ck_assert_uint_lt(fb.n_out, MAX_HELD);
                fb.out[fb.n_out++] = dbus_message_ref(m);
                return;
        }
        if (streq(member, "Hello")) {
                const char *name = DAEMON_NAME;
                fb_reply(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        } else if (streq(member, "RequestName")) {
                uint32_t primary = DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER;
                fb_reply(m, DBUS_TYPE_UINT32, &primary, DBUS_TYPE_INVALID);
                fb.named = true;
        } else if (streq(member, "GetConnectionUnixUser")) {
                ck_assert_uint_lt(fb.n_lookups, MAX_HELD);
                fb.lookups[fb.n_lookups++] = dbus_message_ref(m);
                fb.lookups_seen++;
        } else
                fb_reply(m, DBUS_TYPE_INVALID); /* AddMatch, RemoveMatch, ReleaseName */
}

/* Reads and handles what the daemon sends for ms milliseconds, or until
 * *until reaches want (until NULL: the whole time). */
static void fb_pump(int ms, const size_t *until, size_t want) {
        for (int waited = 0; waited <= ms && !fb.hung_up && !(until && *until >= want); waited += 10) {
                struct pollfd p = { fb.fd, POLLIN, 0 };
                if (poll(&p, 1, 10) <= 0)
                        continue;
                if (fb.cap - fb.len < 65536) {
                        fb.cap = fb.cap * 2 + 65536;
                        fb.buf = realloc(fb.buf, fb.cap);
                        ck_assert_ptr_nonnull(fb.buf);
                }
                ssize_t k = read(fb.fd, fb.buf + fb.len, fb.cap - fb.len);
                if (k <= 0) {
                        fb.hung_up = true; /* what it sent is all there is */
                        break;
                }
                fb.len += (size_t) k;
                for (;;) {
                        int need = dbus_message_demarshal_bytes_needed((char *) fb.buf, (int) fb.len);
                        ck_assert_int_ge(need, 0);
                        if (need == 0 || (size_t) need > fb.len)
                                break;
                        DBusError e = DBUS_ERROR_INIT;
                        DBusMessage *m = dbus_message_demarshal((char *) fb.buf, need, &e);
                        ck_assert_msg(m, "the daemon sent a message libdbus cannot read: %s", e.message);
                        memmove(fb.buf, fb.buf + need, fb.len - (size_t) need);
                        fb.len -= (size_t) need;
                        fb_handle(m);
                        dbus_message_unref(m);
                }
        }
}

/* The daemon's side of SASL EXTERNAL, as a bus speaks it. */
static void fb_accept(void) {
        struct pollfd p = { fb.listen_fd, POLLIN, 0 };
        char line[512];
        size_t n = 0;

        ck_assert_msg(poll(&p, 1, 30000) == 1, "accesskeyd did not connect to its bus");
        fb.fd = accept4(fb.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(fb.fd, 0);
        for (bool begun = false; !begun;) {
                char c;
                ck_assert_int_eq(read(fb.fd, &c, 1), 1);
                if (c == 0 && n == 0)
                        continue;
                ck_assert_uint_lt(n, sizeof(line) - 1);
                line[n++] = c;
                if (n < 2 || line[n - 2] != '\r' || c != '\n')
                        continue;
                line[n - 2] = 0;
                n = 0;
                if (strncmp(line, "AUTH EXTERNAL", 13) == 0)
                        fb_say("OK " BUS_GUID "\r\n");
                else if (streq(line, "NEGOTIATE_UNIX_FD"))
                        fb_say("AGREE_UNIX_FD\r\n");
                else if (streq(line, "BEGIN"))
                        begun = true;
                else
                        fb_say("REJECTED EXTERNAL\r\n");
        }
}

static void start(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        memset(&h, 0, sizeof(h));
        memset(&fb, 0, sizeof(fb));
        harness_prepare(&h);
        ck_assert_uint_lt(strlen(h.dir) + sizeof("/fakebus"), sizeof(sa.sun_path));
        memcpy(sa.sun_path, h.dir, strlen(h.dir));
        strcat(sa.sun_path, "/fakebus");
        snprintf(h.bus_address, sizeof(h.bus_address), "unix:path=%s", sa.sun_path);
        fb.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fb.listen_fd, 0);
        ck_assert_int_eq(bind(fb.listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(fb.listen_fd, 4), 0);

        harness_spawn_daemon(&h, NULL);
        fb_accept();
        for (int i = 0; i < 3000 && (!fb.named || access(h.private_socket, F_OK) != 0); i++)
                fb_pump(10, NULL, 0);
        ck_assert_msg(fb.named, "accesskeyd did not ask for its name");
        ck_assert_msg(access(h.private_socket, F_OK) == 0, "accesskeyd did not open its private socket");
}

/* Hangs up on the daemon and forgets what it said; keeps listening. */
static void fb_hang_up(void) {
        for (size_t i = 0; i < fb.n_lookups; i++)
                dbus_message_unref(fb.lookups[i]);
        for (size_t i = 0; i < fb.n_out; i++)
                dbus_message_unref(fb.out[i]);
        if (fb.fd >= 0)
                close(fb.fd);
        free(fb.buf);
        fb = (fakebus){ .listen_fd = fb.listen_fd, .fd = -1 };
}

static void stop(void) {
        harness_stop(&h);
        fb_hang_up();
        close(fb.listen_fd);
}

/* GetSummary, from a unique name of the test's choosing. */
static uint32_t call_summary(const char *sender) {
        DBusMessage *m = dbus_message_new_method_call(AK_BUS_NAME, AK_OBJECT_PATH, AK_MANAGER_INTERFACE,
                                                      "GetSummary");
        DBusMessageIter it, a;
        ck_assert_ptr_nonnull(m);
        dbus_message_iter_init_append(m, &it);
        ck_assert(dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &a));
        ck_assert(dbus_message_iter_close_container(&it, &a));
        uint32_t serial = fb_send(m, sender);
        dbus_message_unref(m);
        return serial;
}

/* Answers the oldest lookup the daemon asked for: with uid, or (uid < 0)
 * as the bus does for a name that has gone. */
static void answer_lookup(const char *expect_name, int64_t uid) {
        const char *name;
        ck_assert_uint_gt(fb.n_lookups, 0);
        DBusMessage *q = fb.lookups[0];
        ck_assert(dbus_message_get_args(q, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID));
        ck_assert_str_eq(name, expect_name);
        if (uid >= 0) {
                uint32_t u = (uint32_t) uid;
                fb_reply(q, DBUS_TYPE_UINT32, &u, DBUS_TYPE_INVALID);
        } else {
                DBusMessage *e = dbus_message_new_error(q, DBUS_ERROR_NAME_HAS_NO_OWNER, "no such name");
                ck_assert_ptr_nonnull(e);
                fb_send(e, DBUS_SERVICE_DBUS);
                dbus_message_unref(e);
        }
        dbus_message_unref(q);
        memmove(fb.lookups, fb.lookups + 1, --fb.n_lookups * sizeof(*fb.lookups));
}

/* The "total" of the GetSummary return out[i], which answers serial. */
static uint64_t summary_total(size_t i, uint32_t serial) {
        DBusMessage *r = fb.out[i];
        DBusMessageIter it, a, e, v;
        ck_assert_msg(dbus_message_get_type(r) == DBUS_MESSAGE_TYPE_METHOD_RETURN, "expected a return, got %s",
                      strempty(dbus_message_get_error_name(r)));
        ck_assert_uint_eq(dbus_message_get_reply_serial(r), serial);
        ck_assert(dbus_message_iter_init(r, &it));
        dbus_message_iter_recurse(&it, &a);
        for (; dbus_message_iter_get_arg_type(&a) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&a)) {
                const char *k;
                dbus_message_iter_recurse(&a, &e);
                dbus_message_iter_get_basic(&e, &k);
                dbus_message_iter_next(&e);
                dbus_message_iter_recurse(&e, &v);
                if (streq(k, "total")) {
                        uint64_t t;
                        dbus_message_iter_get_basic(&v, &t);
                        return t;
                }
        }
        ck_abort_msg("no total in the summary");
        return 0;
}

/* Waits for the daemon's first reply to a caller: an error named name,
 * answering serial. */
static void expect_first_error(const char *name, uint32_t serial) {
        fb_pump(30000, &fb.n_out, 1);
        ck_assert_uint_eq(fb.n_out, 1);
        ck_assert_int_eq(dbus_message_get_type(fb.out[0]), DBUS_MESSAGE_TYPE_ERROR);
        ck_assert_str_eq(dbus_message_get_error_name(fb.out[0]), name);
        ck_assert_uint_eq(dbus_message_get_reply_serial(fb.out[0]), serial);
}

/* A key of root's, made over the private socket (the bus is ours). */
static void create_root_key(void) {
        ak_client *c;
        char *id, *secret;
        ak_create_options o = { .name = "on the private socket" };
        ck_assert_int_eq(ak_client_open(NULL, h.private_socket, 5000, &c), 0);
        ck_assert_int_eq(ak_create_key(c, &o, &id, &secret), 0);
        free(id);
        ak_secret_free(secret);
        ak_client_close(c);
}

START_TEST(test_waiting_for_the_bus_blocks_nothing) {
        uint32_t first = call_summary(":1.99");
        uint32_t second = call_summary(":1.99");
        fb_pump(30000, &fb.lookups_seen, 1);
        ck_assert_uint_eq(fb.lookups_seen, 1);

        /* The bus has not said who :1.99 is; the daemon answers the private
         * socket meanwhile, and :1.99 nothing. */
        create_root_key();
        fb_pump(200, NULL, 0);
        ck_assert_uint_eq(fb.n_out, 0);
        ck_assert_uint_eq(fb.lookups_seen, 1); /* asked once for both calls */

        /* :1.99 is root: both calls are answered, in order, as root's. */
        answer_lookup(":1.99", 0);
        fb_pump(30000, &fb.n_out, 2);
        ck_assert_uint_eq(fb.n_out, 2);
        ck_assert_uint_eq(summary_total(0, first), 1);
        ck_assert_uint_eq(summary_total(1, second), 1);

        /* Known now: no question to the bus for the next call. */
        uint32_t third = call_summary(":1.99");
        fb_pump(30000, &fb.n_out, 3);
        ck_assert_uint_eq(summary_total(2, third), 1);
        ck_assert_uint_eq(fb.lookups_seen, 1);
}
END_TEST

START_TEST(test_the_uid_is_the_one_the_bus_gives) {
        create_root_key();
        /* Two callers, looked up at the same time, answered out of order. */
        uint32_t a = call_summary(":1.50");
        uint32_t b = call_summary(":1.51");
        fb_pump(30000, &fb.lookups_seen, 2);
        DBusMessage *swap = fb.lookups[0];
        fb.lookups[0] = fb.lookups[1];
        fb.lookups[1] = swap;
        answer_lookup(":1.51", 0);
        fb_pump(30000, &fb.n_out, 1);
        answer_lookup(":1.50", HARNESS_UID_OTHER);
        fb_pump(30000, &fb.n_out, 2);
        ck_assert_uint_eq(fb.n_out, 2);
        /* root sees its key; daemon (uid 1) has none. */
        ck_assert_uint_eq(summary_total(0, b), 1);
        ck_assert_uint_eq(summary_total(1, a), 0);
}
END_TEST

START_TEST(test_a_name_the_bus_cannot_vouch_for_is_denied) {
        uint32_t serial = call_summary(":1.60");
        fb_pump(30000, &fb.lookups_seen, 1);
        answer_lookup(":1.60", -1);
        expect_first_error(AK_ERROR_PREFIX "PermissionDenied", serial);

        /* Not remembered as denied either: the next call asks again. */
        call_summary(":1.60");
        fb_pump(30000, &fb.lookups_seen, 2);
        ck_assert_uint_eq(fb.lookups_seen, 2);
}
END_TEST

START_TEST(test_a_name_that_leaves_is_forgotten) {
        call_summary(":1.70");
        fb_pump(30000, &fb.lookups_seen, 1);
        answer_lookup(":1.70", 0);
        fb_pump(30000, &fb.n_out, 1);

        /* The bus says :1.70 left; a later call from it is looked up anew. */
        DBusMessage *s = dbus_message_new_signal(DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "NameOwnerChanged");
        const char *name = ":1.70", *none = "";
        ck_assert_ptr_nonnull(s);
        ck_assert(dbus_message_append_args(s, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                           &none, DBUS_TYPE_INVALID));
        fb_send(s, DBUS_SERVICE_DBUS);
        dbus_message_unref(s);
        call_summary(":1.70");
        fb_pump(30000, &fb.lookups_seen, 2);
        ck_assert_uint_eq(fb.lookups_seen, 2);
}
END_TEST

START_TEST(test_waiting_calls_are_bounded) {
        uint32_t serials[65];
        for (size_t i = 0; i < ELEMENTSOF(serials); i++)
                serials[i] = call_summary(":1.80");
        /* The 65th is refused at once, naming the limit. */
        expect_first_error(DBUS_ERROR_LIMITS_EXCEEDED, serials[64]);
        ck_assert_uint_eq(fb.lookups_seen, 1);

        /* The 64 that waited are all answered, in order. */
        answer_lookup(":1.80", 0);
        fb_pump(30000, &fb.n_out, 65);
        ck_assert_uint_eq(fb.n_out, 65);
        for (size_t i = 0; i < 64; i++)
                ck_assert_uint_eq(summary_total(i + 1, serials[i]), 0);
}
END_TEST

START_TEST(test_an_answer_not_from_the_bus_is_refused) {
        /* A reply with the look-up's serial, from another peer (as anyone
         * could send on a permissive bus), claiming root. */
        uint32_t serial = call_summary(":1.61");
        fb_pump(30000, &fb.lookups_seen, 1);
        DBusMessage *r = dbus_message_new_method_return(fb.lookups[0]);
        uint32_t root = 0;
        ck_assert_ptr_nonnull(r);
        ck_assert(dbus_message_append_args(r, DBUS_TYPE_UINT32, &root, DBUS_TYPE_INVALID));
        fb_send(r, ":1.62");
        dbus_message_unref(r);
        expect_first_error(AK_ERROR_PREFIX "PermissionDenied", serial);
}
END_TEST

START_TEST(test_a_no_reply_from_a_peer_is_a_refusal) {
        /* Only libdbus's own NoReply (no sender) means "the bus did not
         * answer"; one that another peer sends is a refusal like any other
         * answer not from the bus. */
        uint32_t serial = call_summary(":1.63");
        fb_pump(30000, &fb.lookups_seen, 1);
        DBusMessage *e = dbus_message_new_error(fb.lookups[0], DBUS_ERROR_NO_REPLY, "no reply, says a peer");
        ck_assert_ptr_nonnull(e);
        fb_send(e, ":1.64");
        dbus_message_unref(e);
        expect_first_error(AK_ERROR_PREFIX "PermissionDenied", serial);
}
END_TEST

START_TEST(test_waiting_bytes_are_bounded) {
        /* Two calls of 600 KB from one name: the second would pass the
         * 1 MiB that one name may have waiting. */
        size_t big = 600 * 1024;
        char *text = malloc(big + 1);
        ck_assert_ptr_nonnull(text);
        memset(text, 'x', big);
        text[big] = 0;
        uint32_t serials[2];
        for (int i = 0; i < 2; i++) {
                DBusMessage *m = dbus_message_new_method_call(AK_BUS_NAME, AK_OBJECT_PATH, AK_MANAGER_INTERFACE,
                                                              "GetKey");
                ck_assert_ptr_nonnull(m);
                ck_assert(dbus_message_append_args(m, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID));
                serials[i] = fb_send(m, ":1.85");
                dbus_message_unref(m);
        }
        free(text);
        expect_first_error(DBUS_ERROR_LIMITS_EXCEEDED, serials[1]);
        /* The first waited, and is answered (its ID is refused). */
        answer_lookup(":1.85", 0);
        fb_pump(30000, &fb.n_out, 2);
        ck_assert_uint_eq(fb.n_out, 2);
        ck_assert_uint_eq(dbus_message_get_reply_serial(fb.out[1]), serials[0]);
        ck_assert_str_eq(dbus_message_get_error_name(fb.out[1]), AK_ERROR_PREFIX "InvalidArgument");
}
END_TEST

START_TEST(test_a_bus_that_never_answers_is_given_up) {
        /* The daemon asks with the 5 s timeout of a bus call, then says
         * "try again" (the library's ETIMEDOUT, the module's
         * PAM_AUTHINFO_UNAVAIL), not "denied". */
        uint32_t serial = call_summary(":1.90");
        expect_first_error(DBUS_ERROR_TIMEOUT, serial);
        ck_assert_int_eq(ak_error_from_dbus(DBUS_ERROR_TIMEOUT), -ETIMEDOUT);
        /* The administrator is told. */
        _cleanup_(freep) char *log = harness_read_file(h.daemon_log);
        ck_assert_ptr_nonnull(strstr(log, "no answer from the bus within 5000 ms about who :1.90 is"));

        /* Nothing is remembered: the next call asks again, and is served.
         * The first question's late answer changes nothing (it matches no
         * pending call, and the daemon ignores it); the second's counts. */
        serial = call_summary(":1.90");
        fb_pump(30000, &fb.lookups_seen, 2);
        ck_assert_uint_eq(fb.lookups_seen, 2);
        answer_lookup(":1.90", 0);
        fb_pump(200, NULL, 0);
        ck_assert_uint_eq(fb.n_out, 1);
        answer_lookup(":1.90", 0);
        fb_pump(30000, &fb.n_out, 2);
        ck_assert_uint_eq(fb.n_out, 2);
        ck_assert_uint_eq(dbus_message_get_reply_serial(fb.out[1]), serial);
        ck_assert_int_eq(dbus_message_get_type(fb.out[1]), DBUS_MESSAGE_TYPE_METHOD_RETURN);
}
END_TEST

START_TEST(test_losing_the_bus_while_calls_wait) {
        call_summary(":1.95");
        call_summary(":1.95");
        fb_pump(30000, &fb.lookups_seen, 1);

        /* The bus goes away with both calls waiting: they are dropped with
         * the connection, the private socket goes on, and the daemon comes
         * back to the bus. */
        fb_hang_up();
        create_root_key();
        fb_accept();
        for (int i = 0; i < 3000 && !fb.named; i++)
                fb_pump(10, NULL, 0);
        ck_assert(fb.named);
        uint32_t serial = call_summary(":1.96");
        fb_pump(30000, &fb.lookups_seen, 1);
        answer_lookup(":1.96", 0);
        fb_pump(30000, &fb.n_out, 1);
        ck_assert_uint_eq(summary_total(0, serial), 1);
}
END_TEST

int main(void) {
        Suite *s = suite_create("bus");
        TCase *tc = tcase_create("bus");
        tcase_add_checked_fixture(tc, start, stop);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, test_waiting_for_the_bus_blocks_nothing);
        tcase_add_test(tc, test_the_uid_is_the_one_the_bus_gives);
        tcase_add_test(tc, test_a_name_the_bus_cannot_vouch_for_is_denied);
        tcase_add_test(tc, test_a_name_that_leaves_is_forgotten);
        tcase_add_test(tc, test_waiting_calls_are_bounded);
        tcase_add_test(tc, test_an_answer_not_from_the_bus_is_refused);
        tcase_add_test(tc, test_a_no_reply_from_a_peer_is_a_refusal);
        tcase_add_test(tc, test_waiting_bytes_are_bounded);
        tcase_add_test(tc, test_a_bus_that_never_answers_is_given_up);
        tcase_add_test(tc, test_losing_the_bus_while_calls_wait);
        suite_add_tcase(s, tc);
        return harness_main(s, true);
}
