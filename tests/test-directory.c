/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fleet mode's directory session (daemon/directory.c) against a real slapd
 * (tools/slapd-testbed: mdb, syncprov, the project's schema and access
 * rules), as root:
 *   - an entry's attributes are checked as a D-Bus argument would be;
 *   - each way of opening the session that cannot work fails with one
 *     message naming the setting and what to do: a wrong password, a
 *     password file others may read, no credentials, a base that does not
 *     exist, a directory without the schema, an address nothing listens on,
 *     plain LDAP to an address that is not loopback without StartTLS;
 *   - the sync session: a full refresh, then changes within a second of
 *     being made (deactivate, delete, an unusable entry); after a restart
 *     from the cookie only the changes come, and a store that applies the
 *     events holds what the directory holds;
 *   - a directory that stops answering (SIGSTOP) is noticed by the probe.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "directory.h"
#include "harness.h"
#include "util.h"

#define BASE "dc=example,dc=com"
#define KEYS "ou=accesskeys," BASE

static char tmp[] = "/tmp/accesskey-directory.XXXXXX";
static char ldap_dir[512], none_dir[512], admin_pw[600], host_pw[600];
static char *uri, *none_uri, *tcp_uri;
static int port;

static char *testbed(const char *dir, const char *schema, const char *listen) {
        char *out = NULL, *err = NULL;
        /* The tool is in the source tree, not the build tree. */
        char srctool[4096];
        snprintf(srctool, sizeof(srctool), "%s/tools/slapd-testbed", harness_srcdir());
        const char *argv[] = { srctool, "start", dir, schema, listen, NULL };
        int r = harness_run(argv, (uid_t) -1, (gid_t) -1, NULL, &out, &err);
        ck_assert_msg(r == 0, "slapd-testbed start %s: %s%s", dir, out, err);
        free(err);
        out[strcspn(out, "\n")] = '\0';
        return out;
}

static void testbed_stop(const char *dir) {
        char srctool[4096];
        snprintf(srctool, sizeof(srctool), "%s/tools/slapd-testbed", harness_srcdir());
        const char *argv[] = { srctool, "stop", dir, NULL };
        (void) harness_run(argv, (uid_t) -1, (gid_t) -1, NULL, NULL, NULL);
}

static void setup(void) {
        char listen[64], schema[4096];
        ck_assert_ptr_nonnull(mkdtemp(tmp));
        snprintf(ldap_dir, sizeof(ldap_dir), "%s/ldap", tmp);
        snprintf(none_dir, sizeof(none_dir), "%s/none", tmp);
        snprintf(admin_pw, sizeof(admin_pw), "%s/admin.pw", ldap_dir);
        snprintf(host_pw, sizeof(host_pw), "%s/host.pw", ldap_dir);
        snprintf(schema, sizeof(schema), "%s/ldap/accesskey.ldif", harness_builddir());
        port = 20000 + getpid() % 20000;
        /* Every address, so that a non-loopback one can be tried. */
        snprintf(listen, sizeof(listen), "ldap://0.0.0.0:%d/", port);
        uri = testbed(ldap_dir, schema, listen);
        none_uri = testbed(none_dir, "none", NULL);
        ck_assert(asprintf(&tcp_uri, "ldap://127.0.0.1:%d", port) > 0);
}

static void teardown(void) {
        testbed_stop(ldap_dir);
        testbed_stop(none_dir);
        char *argv[] = { "/bin/rm", "-rf", tmp, NULL };
        (void) harness_run((const char *const *) argv, (uid_t) -1, (gid_t) -1, NULL, NULL, NULL);
}

static directory_settings host(const char *u) {
        return (directory_settings){ .uri = u,
                                     .base = KEYS,
                                     .bind_dn = "cn=host1,ou=hosts," BASE,
                                     .password_file = host_pw,
                                     .timeout_ms = 2000 };
}

/* ldapmodify as the directory's administrator; returns its exit code. */
static int admin(const char *ldif) {
        const char *argv[] = { "/usr/bin/ldapmodify", "-x", "-H", uri, "-D", "cn=admin," BASE, "-y", admin_pw, NULL };
        char *out = NULL, *err = NULL;
        int r = harness_run(argv, (uid_t) -1, (gid_t) -1, ldif, &out, &err);
        if (r != 0)
                fprintf(stderr, "ldapmodify: %s%s\n", out, err);
        free(out);
        free(err);
        return r;
}

static char *new_id(void) {
        char *id = malloc(AK_ID_LEN + 1);
        ck_assert_int_eq(ak_id_generate(id), 0);
        return id;
}

static int add_key(const char *id, const char *extra) {
        char ldif[2048];
        snprintf(ldif, sizeof(ldif),
                 "dn: accessKeyId=%s," KEYS "\nchangetype: add\nobjectClass: accessKey\naccessKeyId: %s\n"
                 "accessKeyOwner: alice\n"
                 "accessKeyVerifier:: AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
                 "accessKeyPepperVersion: 1\naccessKeyState: active\naccessKeyCreatedAt: 20261204183000Z\n%s\n",
                 id, id, extra ? extra : "");
        return admin(ldif);
}

static int set_state(const char *id, const char *state) {
        char ldif[512];
        snprintf(ldif, sizeof(ldif),
                 "dn: accessKeyId=%s," KEYS "\nchangetype: modify\nreplace: accessKeyState\naccessKeyState: %s\n",
                 id, state);
        return admin(ldif);
}

static int delete_key(const char *id) {
        char ldif[512];
        snprintf(ldif, sizeof(ldif), "dn: accessKeyId=%s," KEYS "\nchangetype: delete\n", id);
        return admin(ldif);
}

/* ---- a model of the daemon's store: it applies events as the daemon
 * must, and is compared with the directory. */

typedef struct held {
        uint8_t uuid[16];
        char id[AK_ID_LEN + 1];
        bool active, seen;
} held;

typedef struct model {
        held keys[64];
        size_t n;
        uint8_t cookie[512];
        size_t cookie_len;
        unsigned puts, deletes, presents, unusable, refreshes;
        bool dropped_unseen;
} model;

static held *find(model *m, const uint8_t uuid[16]) {
        for (size_t i = 0; i < m->n; i++)
                if (memcmp(m->keys[i].uuid, uuid, 16) == 0)
                        return &m->keys[i];
        return NULL;
}

static void drop(model *m, const uint8_t uuid[16]) {
        held *h = find(m, uuid);
        if (h)
                *h = m->keys[--m->n];
}

static void apply(model *m, const directory_event *ev) {
        switch (ev->kind) {
        case DIRECTORY_PUT: {
                held *h = find(m, ev->key->uuid);
                if (!h) {
                        ck_assert_uint_lt(m->n, ELEMENTSOF(m->keys));
                        h = &m->keys[m->n++];
                        memcpy(h->uuid, ev->key->uuid, 16);
                }
                memcpy(h->id, ev->key->id, sizeof(h->id));
                h->active = ev->key->active;
                h->seen = true;
                m->puts++;
                break;
        }
        case DIRECTORY_PRESENT:
                for (size_t i = 0; i < ev->n_uuids; i++) {
                        held *h = find(m, ev->uuids[i]);
                        if (h)
                                h->seen = true;
                }
                m->presents += (unsigned) ev->n_uuids;
                break;
        case DIRECTORY_DELETE:
                for (size_t i = 0; i < ev->n_uuids; i++)
                        drop(m, ev->uuids[i]);
                m->deletes += (unsigned) ev->n_uuids;
                break;
        case DIRECTORY_UNUSABLE:
                drop(m, ev->uuids[0]);
                m->unusable++;
                break;
        case DIRECTORY_REFRESH_DONE:
                m->refreshes++;
                m->dropped_unseen = ev->drop_unseen;
                if (ev->drop_unseen) {
                        for (size_t i = 0; i < m->n;) {
                                if (!m->keys[i].seen)
                                        m->keys[i] = m->keys[--m->n];
                                else
                                        i++;
                        }
                }
                break;
        case DIRECTORY_NOTHING:
        case DIRECTORY_COOKIE:
                break;
        }
        if (ev->cookie) {
                ck_assert_uint_le(ev->cookie_len, sizeof(m->cookie));
                memcpy(m->cookie, ev->cookie, ev->cookie_len);
                m->cookie_len = ev->cookie_len;
        }
}

static held *held_id(model *m, const char *id) {
        for (size_t i = 0; i < m->n; i++)
                if (streq(m->keys[i].id, id))
                        return &m->keys[i];
        return NULL;
}

/* Applies events until done(m) or the time is up; returns how long it
 * took in ms, or -1. */
static long run_until(directory *d, model *m, bool (*done)(model *m, const void *arg), const void *arg,
                      unsigned ms) {
        uint64_t start = mono_usec();
        while (!done(m, arg)) {
                uint64_t spent = (mono_usec() - start) / 1000;
                if (spent >= ms)
                        return -1;
                directory_event ev;
                char *err = NULL;
                int r = directory_next(d, 100, &ev, &err);
                ck_assert_msg(r == 0, "directory_next: %d %s", r, strempty(err));
                apply(m, &ev);
                directory_event_clear(&ev);
        }
        return (long) ((mono_usec() - start) / 1000);
}

static bool refreshed(model *m, const void *arg) {
        return m->refreshes >= *(const unsigned *) arg;
}
static bool inactive(model *m, const void *id) {
        held *h = held_id(m, id);
        return h && !h->active;
}
static bool gone(model *m, const void *id) {
        return !held_id(m, id);
}
static bool has(model *m, const void *id) {
        return held_id(m, id);
}

static directory *open_host(void) {
        directory_settings s = host(uri);
        directory *d = NULL;
        char *err = NULL;
        int r = directory_open(&s, &d, &err);
        ck_assert_msg(r == 0, "directory_open: %d %s", r, strempty(err));
        return d;
}

static void start(directory *d, const model *m) {
        char *err = NULL;
        int r = directory_sync_start(d, m->cookie_len ? m->cookie : NULL, m->cookie_len, &err);
        ck_assert_msg(r == 0, "directory_sync_start: %s", strempty(err));
}

START_TEST(test_sync_refresh_changes_and_resume) {
        model m = {};
        unsigned one = 1;
        char *a = new_id(), *b = new_id(), *c = new_id(), *bad = new_id(), *e = new_id(), *f = new_id();
        char *g = new_id(); /* never changes */

        ck_assert_int_eq(add_key(g, NULL), 0);
        ck_assert_int_eq(add_key(a, NULL), 0);
        ck_assert_int_eq(add_key(b, "accessKeyHostGroup: web"), 0);
        ck_assert_int_eq(add_key(c, NULL), 0);

        directory *d = open_host();
        start(d, &m);
        ck_assert_int_ge(run_until(d, &m, refreshed, &one, 5000), 0);
        ck_assert_uint_eq(m.n, 4);
        ck_assert(held_id(&m, a) && held_id(&m, b) && held_id(&m, c) && held_id(&m, g));
        ck_assert_uint_gt(m.cookie_len, 0);

        /* Changes arrive as they are made, each well within a second. */
        ck_assert_int_eq(set_state(a, "inactive"), 0);
        long took = run_until(d, &m, inactive, a, 1000);
        ck_assert_msg(took >= 0, "the deactivation did not arrive within 1 s");
        ck_assert_int_eq(delete_key(b), 0);
        ck_assert_int_ge(run_until(d, &m, gone, b, 1000), 0);
        /* An entry the schema allows but a host cannot use: an unusable
         * network.  It is reported, not taken. */
        ck_assert_int_eq(add_key(bad, "accessKeyNetwork: 10.0.0.1/8"), 0);
        unsigned before = m.unusable;
        uint64_t t0 = mono_usec();
        while (m.unusable == before && mono_usec() - t0 < 1000 * USEC_PER_MSEC) {
                directory_event ev;
                ck_assert_int_eq(directory_next(d, 100, &ev, NULL), 0);
                if (ev.kind == DIRECTORY_UNUSABLE) {
                        ck_assert_ptr_nonnull(strstr(ev.reason, "accessKeyNetwork"));
                        ck_assert_ptr_nonnull(strstr(ev.dn, bad));
                }
                apply(&m, &ev);
                directory_event_clear(&ev);
        }
        ck_assert_uint_eq(m.unusable, before + 1);
        ck_assert(!held_id(&m, bad));
        directory_close(d);

        /* While the host is away: one key added, one deleted, one
         * reactivated.  From the cookie, only those come back. */
        ck_assert_int_eq(add_key(e, NULL), 0);
        ck_assert_int_eq(delete_key(c), 0);
        ck_assert_int_eq(set_state(a, "active"), 0);
        m.puts = m.deletes = m.presents = m.refreshes = 0;
        for (size_t i = 0; i < m.n; i++)
                m.keys[i].seen = false;
        d = open_host();
        start(d, &m);
        ck_assert_int_ge(run_until(d, &m, refreshed, &one, 5000), 0);
        ck_assert_msg(m.puts <= 2, "a resumed session sent %u entries, expected the 2 changed ones", m.puts);
        /* ... and what did not change is kept. */
        ck_assert(has(&m, e) && gone(&m, c) && !inactive(&m, a) && has(&m, g));
        ck_assert_uint_eq(m.n, 3);

        /* A session from nothing on a store holding a stale key: the
         * refresh removes what the directory no longer has. */
        ck_assert_int_eq(add_key(f, NULL), 0);
        ck_assert_int_ge(run_until(d, &m, has, f, 1000), 0);
        directory_close(d);
        ck_assert_int_eq(delete_key(f), 0);
        m.cookie_len = 0;
        m.refreshes = 0;
        for (size_t i = 0; i < m.n; i++)
                m.keys[i].seen = false;
        d = open_host();
        start(d, &m);
        ck_assert_int_ge(run_until(d, &m, refreshed, &one, 5000), 0);
        ck_assert(m.dropped_unseen);
        ck_assert(gone(&m, f) && has(&m, e) && has(&m, a) && has(&m, g));
        ck_assert_uint_eq(m.n, 3);
        directory_close(d);
        free(a), free(b), free(c), free(bad), free(e), free(f), free(g);
}
END_TEST

/* One failed open: its errno and that its message names `what`. */
static void refused(const directory_settings *s, int want, const char *what) {
        directory *d = NULL;
        char *err = NULL;
        int r = directory_open(s, &d, &err);
        ck_assert_msg(r == want, "expected %d (%s), got %d: %s", want, what, r, strempty(err));
        ck_assert_ptr_null(d);
        ck_assert_msg(err && strstr(err, what), "the message '%s' does not name '%s'", strempty(err), what);
        free(err);
}

/* A non-loopback IPv4 address of this machine, if it has one. */
static bool outside_address(char ret[INET_ADDRSTRLEN]) {
        struct ifaddrs *ifs, *i;
        bool found = false;
        if (getifaddrs(&ifs) < 0)
                return false;
        for (i = ifs; i && !found; i = i->ifa_next)
                if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET) {
                        struct in_addr a = ((struct sockaddr_in *) i->ifa_addr)->sin_addr;
                        if ((ntohl(a.s_addr) >> 24) != 127)
                                found = inet_ntop(AF_INET, &a, ret, INET_ADDRSTRLEN) != NULL;
                }
        freeifaddrs(ifs);
        return found;
}

START_TEST(test_open_refusals) {
        char path[700], url[128], addr[INET_ADDRSTRLEN];
        directory_settings s = host(uri);

        snprintf(path, sizeof(path), "%s/wrong.pw", tmp);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("not-the-password\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0600), 0);
        s.password_file = path;
        refused(&s, -EACCES, "cn=host1,ou=hosts," BASE);
        refused(&s, -EACCES, path);

        ck_assert_int_eq(chmod(path, 0644), 0);
        refused(&s, -EPERM, "chmod 600");

        s = host(uri);
        s.bind_dn = NULL;
        s.uri = tcp_uri;
        refused(&s, -EINVAL, "DirectoryBindDN");

        s = host(uri);
        s.base = "ou=nothing," BASE;
        refused(&s, -ENOENT, "DirectoryBase ou=nothing");

        s = host(none_uri);
        s.bind_dn = "cn=host1,ou=hosts," BASE;
        snprintf(path, sizeof(path), "%s/host.pw", none_dir);
        s.password_file = path;
        refused(&s, -ENOENT, "accesskey.ldif");

        s = host("ldap://127.0.0.1:1");
        refused(&s, -EHOSTUNREACH, "cannot reach");

        s = host("http://example.com");
        refused(&s, -EINVAL, "ldaps://");

        if (outside_address(addr)) {
                /* slapd listens there too, without TLS: the password must
                 * not go out in the clear. */
                snprintf(url, sizeof(url), "ldap://%s:%d", addr, port);
                s = host(url);
                refused(&s, -EPROTO, "StartTLS");
        } else {
                fprintf(stderr, "test_open_refusals: no non-loopback address; the StartTLS case is skipped\n");
        }

        /* And the right settings work over TCP on loopback too. */
        s = host(tcp_uri);
        directory *d = NULL;
        char *err = NULL;
        ck_assert_msg(directory_open(&s, &d, &err) == 0, "%s", strempty(err));
        directory_close(d);
}
END_TEST

START_TEST(test_silent_directory_is_noticed) {
        model m = {};
        unsigned one = 1;
        directory_settings s = host(tcp_uri);
        s.probe_interval_ms = 300;
        s.timeout_ms = 700;
        directory *d = NULL;
        char *err = NULL, pidfile[600];

        ck_assert_msg(directory_open(&s, &d, &err) == 0, "%s", strempty(err));
        start(d, &m);
        ck_assert_int_ge(run_until(d, &m, refreshed, &one, 5000), 0);
        /* A quiet but healthy directory answers the probes. */
        uint64_t t0 = mono_usec();
        while (mono_usec() - t0 < 1500 * USEC_PER_MSEC) {
                directory_event ev;
                int r = directory_next(d, 200, &ev, &err);
                ck_assert_msg(r == 0, "a healthy quiet session failed: %s", strempty(err));
                directory_event_clear(&ev);
        }
        snprintf(pidfile, sizeof(pidfile), "%s/slapd.pid", ldap_dir);
        char *pidtext = harness_read_file(pidfile);
        ck_assert_ptr_nonnull(pidtext);
        pid_t pid = (pid_t) atoi(pidtext);
        free(pidtext);
        ck_assert_int_eq(kill(pid, SIGSTOP), 0);
        t0 = mono_usec();
        int r = 0;
        while (r == 0 && mono_usec() - t0 < 5000 * USEC_PER_MSEC) {
                directory_event ev;
                r = directory_next(d, 200, &ev, &err);
                directory_event_clear(&ev);
        }
        uint64_t took = (mono_usec() - t0) / 1000;
        (void) kill(pid, SIGCONT);
        ck_assert_int_eq(r, -ECONNRESET);
        ck_assert_ptr_nonnull(strstr(err, "probe"));
        ck_assert_msg(took <= 1500, "noticed after %" PRIu64 " ms, expected within probe + timeout", took);
        free(err);
        directory_close(d);
}
END_TEST

START_TEST(test_parse_time) {
        uint64_t t;
        ck_assert_int_eq(directory_parse_time("20261204183000Z", &t), 0);
        ck_assert_uint_eq(t, UINT64_C(1796409000) * USEC_PER_SEC);
        ck_assert_int_eq(directory_parse_time("20261204183000.5Z", &t), 0);
        ck_assert_uint_eq(t, UINT64_C(1796409000) * USEC_PER_SEC + 500000);
        ck_assert_int_eq(directory_parse_time("202612041930+0100", &t), 0);
        ck_assert_uint_eq(t, UINT64_C(1796409000) * USEC_PER_SEC);
        ck_assert_int_eq(directory_parse_time("2026120418Z", &t), 0);
        ck_assert_int_eq(directory_parse_time("20240229000000Z", &t), 0);
        const char *bad[] = { "",          "tomorrow",         "20261204183000",  "20261304183000Z",
                              "20230229000000Z", "20261204183000ZZ", "19691231235959Z", "20261204246000Z",
                              "20261204183000.Z", "2026120418300Z" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(directory_parse_time(bad[i], &t) == -EINVAL, "'%s' was taken", bad[i]);
}
END_TEST

/* One attribute of a test entry. */
#define V(...) ((const uint8_t *const[]){ __VA_ARGS__, NULL })

static int parse_with(const char *name, const uint8_t *const *values, const size_t *lens, char reason[]) {
        static const uint8_t uuid[16] = { 1 };
        static const uint8_t verifier[AK_VERIFIER_LEN] = { 2 };
        char id[AK_ID_LEN + 1];
        ck_assert_int_eq(ak_id_generate(id), 0);
        const size_t one[] = { 0 }, vlen[] = { AK_VERIFIER_LEN };
        directory_attr attrs[] = {
                { "accessKeyId", V((const uint8_t *) id), (size_t[]){ AK_ID_LEN } },
                { "accessKeyOwner", V((const uint8_t *) "alice"), (size_t[]){ 5 } },
                { "accessKeyVerifier", V(verifier), vlen },
                { "accessKeyPepperVersion", V((const uint8_t *) "1"), (size_t[]){ 1 } },
                { "accessKeyState", V((const uint8_t *) "active"), (size_t[]){ 6 } },
                { "accessKeyCreatedAt", V((const uint8_t *) "20261204183000Z"), (size_t[]){ 15 } },
                { name, values, lens },
        };
        (void) one;
        directory_key *k = NULL;
        size_t n = ELEMENTSOF(attrs);
        /* A name that replaces a required attribute drops it instead. */
        for (size_t i = 0; i + 1 < n; i++)
                if (name && streq(attrs[i].name, name))
                        attrs[i] = attrs[--n];
        int r = directory_key_parse(uuid, attrs, name ? n : n - 1, &k, reason);
        if (r == 0) {
                ck_assert_str_eq(k->id, id);
                ck_assert_str_eq(k->owner, "alice");
                ck_assert(k->active);
                ck_assert_ptr_nonnull(k->services);
        }
        directory_key_free(k);
        return r;
}

START_TEST(test_parse_entry) {
        char reason[DIRECTORY_REASON_MAX];
        ck_assert_int_eq(parse_with(NULL, NULL, NULL, reason), 0);
        ck_assert_int_eq(parse_with("accessKeyService", V((const uint8_t *) "sshd", (const uint8_t *) "dovecot"),
                                    (size_t[]){ 4, 7 }, reason),
                         0);
        ck_assert_int_eq(parse_with("objectClass", V((const uint8_t *) "accessKey"), (size_t[]){ 9 }, reason), 0);

        struct {
                const char *name, *value, *named;
                size_t len;
        } bad[] = {
                { "accessKeyNetwork", "10.0.0.1/8", "accessKeyNetwork", 10 },
                { "accessKeyService", "ss hd", "accessKeyService", 5 },
                { "accessKeyOwner", "-alice", "accessKeyOwner", 6 },
                { "accessKeyOwner", "al\0ce", "NUL", 5 },
                { "accessKeyState", "revoked", "accessKeyState", 7 },
                { "accessKeyExpires", "never", "accessKeyExpires", 5 },
                { "accessKeyPepperVersion", "0", "accessKeyPepperVersion", 1 },
                { "accessKeyPepperVersion", "-1", "accessKeyPepperVersion", 2 },
                { "accessKeyVerifier", "short", "accessKeyVerifier", 5 },
                { "accessKeyId", "AK0000000000000000000", "accessKeyId", 21 },
                { "accessKeyHostGroup", "web servers", "accessKeyHostGroup", 11 },
                { "accessKeyName", "a\xe2\x80\xae" "b", "accessKeyName", 5 },
                { "accessKeyLocked", "yes", "accessKeyLocked", 3 },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const uint8_t *vals[] = { (const uint8_t *) bad[i].value, NULL };
                size_t lens[] = { bad[i].len };
                int r = parse_with(bad[i].name, vals, lens, reason);
                ck_assert_msg(r == -EINVAL, "%s '%s' was taken", bad[i].name, bad[i].value);
                ck_assert_msg(strstr(reason, bad[i].named), "'%s' does not name %s", reason, bad[i].named);
        }
        /* Two owners, and a required attribute missing. */
        ck_assert_int_eq(parse_with("accessKeyOwner", V((const uint8_t *) "alice", (const uint8_t *) "bob"),
                                    (size_t[]){ 5, 3 }, reason),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(reason, "more than one"));
        ck_assert_int_eq(parse_with("accessKeyVerifier", (const uint8_t *const[]){ NULL }, (size_t[]){ 0 }, reason),
                         -EINVAL);
        ck_assert_ptr_nonnull(strstr(reason, "accessKeyVerifier is missing"));
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("directory");
        TCase *t = tcase_create("entries");
        tcase_add_test(t, test_parse_time);
        tcase_add_test(t, test_parse_entry);
        suite_add_tcase(s, t);

        t = tcase_create("slapd");
        tcase_add_unchecked_fixture(t, setup, teardown);
        tcase_set_timeout(t, 60);
        tcase_add_test(t, test_open_refusals);
        tcase_add_test(t, test_sync_refresh_changes_and_resume);
        tcase_add_test(t, test_silent_directory_is_noticed);
        suite_add_tcase(s, t);
        return s;
}

int main(void) {
        if (access("/usr/sbin/slapd", X_OK) != 0) {
                printf("SKIP: /usr/sbin/slapd not found: install slapd and ldap-utils (tools/install-deps does it)\n");
                return 77;
        }
        return harness_main(suite(), true);
}
