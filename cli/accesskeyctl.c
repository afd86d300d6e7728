/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * accesskeyctl — the administrator's and the user's tool for access keys.
 *
 * It speaks to accesskeyd through libaccesskey only; every decision (who may
 * see or change which key, limits, lifetimes) is the daemon's.  What is
 * checked here is only what can be checked without asking: the shape of
 * arguments, so that a typo is a usage error that never reaches the daemon.
 *
 * Exit status: 0 success, 1 failure (reported by the daemon, or a local one
 * such as a write error), 2 usage error.
 */
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <json.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "accesskey.h"
#include "timeutil.h"
#include "credential.h"
#include "util.h"

#define PROGRAM "accesskeyctl"

enum {
        EXIT_OK = 0,
        EXIT_DAEMON = 1, /* the daemon refused, or could not be reached */
        EXIT_USAGE = 2,
};

/* Management calls commit durably before they answer; a CLI user can wait
 * longer than a login can. */
#define CLI_DEFAULT_TIMEOUT_MS 10000U
#define CLI_MAX_TIMEOUT_MS 3600000U

/* Command options, as bits, so each command can say which it takes. */
enum {
        OPT_NAME = 1U << 0,
        OPT_DESCRIPTION = 1U << 1,
        OPT_USER = 1U << 2,
        OPT_EXPIRES = 1U << 3,
        OPT_SERVICE = 1U << 4,
        OPT_NETWORK = 1U << 5,
        OPT_SCOPE = 1U << 6,
        OPT_ALL = 1U << 7,
};

static const char *const option_names[] = {
        "--name",    "--description", "--user",  "--expires",
        "--service", "--network",     "--scope", "--all",
};

typedef struct args {
        const char *bus;
        const char *socket_path;
        unsigned timeout_ms;
        bool json;

        unsigned seen; /* OPT_* given on the command line */
        const char *name;
        const char *description;
        const char *user;
        const char *expires;
        uint64_t expires_at; /* parsed from expires by verify_args() */
        char **services;
        char **networks;
        char **scopes;
        bool all;
} args;

static void args_done(args *a) {
        strv_free(a->services);
        strv_free(a->networks);
        strv_free(a->scopes);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs(PROGRAM ": ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry '" PROGRAM " --help' for more information.\n", stderr);
        return EXIT_USAGE;
}

static int oom(void) {
        fputs(PROGRAM ": out of memory\n", stderr);
        return EXIT_DAEMON;
}

static void help(void) {
        printf("Usage: %1$s [OPTIONS] COMMAND [ARGS...]\n"
               "\n"
               "Manage the access keys kept by accesskeyd.\n"
               "\n"
               "Commands:\n"
               "  create --name NAME [--description TEXT] [--user USER] [--expires WHEN]\n"
               "         [--service SERVICE]... [--network CIDR]... [--scope SCOPE]...\n"
               "                        Create a key; print its ID and its secret (once)\n"
               "  list [--user USER | --all]\n"
               "                        List your keys, USER's keys, or all you may manage\n"
               "  show ID               Show every field of a key\n"
               "  delete ID             Delete a key; logins with it fail at once\n"
               "  help                  Show this help\n"
               "\n"
               "Options:\n"
               "      --bus=ADDRESS     Use this D-Bus bus: system, session or an address\n"
               "                        (default: accesskeyd's private socket, then the\n"
               "                        system bus)\n"
               "      --socket=PATH     Use accesskeyd's private socket at PATH\n"
               "      --timeout=MS      Give up on a call after MS milliseconds (default %2$u)\n"
               "      --json            Print JSON instead of text\n"
               "  -h, --help            Show this help\n"
               "      --version         Show the version\n"
               "\n"
               "WHEN is 'never', a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, or a time\n"
               "from now: Nw, Nd, Nh or Nm (weeks, days, hours, minutes), e.g. 90d.\n"
               "\n"
               "Exit status: 0 success, 1 failure reported by accesskeyd, 2 usage error.\n"
               "See accesskeyctl(1).\n",
               PROGRAM, CLI_DEFAULT_TIMEOUT_MS);
}

/* ------------------------------------------------------------------ time */

/* " (in 90 days)", " (3 hours ago)"; rounded to the nearest unit. */
static const char *format_relative(uint64_t usec, uint64_t now, char buf[static 48]) {
        static const struct {
                uint64_t sec;
                const char *name;
        } units[] = {
                { 24 * 3600, "day" },
                { 3600, "hour" },
                { 60, "minute" },
                { 1, "second" },
        };
        bool future = usec >= now;
        uint64_t d = (future ? usec - now : now - usec) / USEC_PER_SEC;
        size_t i = 0;

        while (i < ELEMENTSOF(units) - 1 && d < units[i].sec)
                i++;
        uint64_t n = (d + units[i].sec / 2) / units[i].sec;
        snprintf(buf, 48, future ? " (in %" PRIu64 " %s%s)" : " (%" PRIu64 " %s%s ago)", n,
                 units[i].name, n == 1 ? "" : "s");
        return buf;
}

/* ----------------------------------------------------------- text output */

/* A copy of s fit for a terminal: control characters (C0, DEL and the UTF-8
 * encoded C1 range) become '?', so a key name chosen by one user cannot send
 * escape sequences to the terminal of an administrator listing every key. */
static char *sanitize(const char *s) {
        const unsigned char *u = (const unsigned char *) (s ? s : "");
        char *r = malloc(strlen((const char *) u) + 1), *p = r;

        if (!r)
                return NULL;
        while (*u) {
                if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
                        *p++ = '?';
                        u += 2;
                } else if (*u < 0x20 || *u == 0x7f) {
                        *p++ = '?';
                        u++;
                } else
                        *p++ = (char) *u++;
        }
        *p = '\0';
        return r;
}

/* Display width of UTF-8 text, one column per code point. */
static size_t text_width(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        n++;
        return n;
}

static char *strv_join(char *const *v, const char *none) {
        size_t len = 1;
        char *r;

        if (strv_length(v) == 0)
                return strdup(none);
        for (size_t i = 0; v[i]; i++)
                len += strlen(v[i]) + 2;
        r = malloc(len);
        if (!r)
                return NULL;
        r[0] = '\0';
        for (size_t i = 0; v[i]; i++) {
                if (i > 0)
                        strcat(r, ", ");
                strcat(r, v[i]);
        }
        return r;
}

static const char *key_state(const ak_key *k, uint64_t now) {
        if (!k->active)
                return "inactive";
        if (k->expires_at != 0 && k->expires_at <= now)
                return "expired";
        return "active";
}

static const char *user_name(uint32_t uid, char buf[static 64]) {
        struct passwd *pw = getpwuid((uid_t) uid);
        if (pw && pw->pw_name)
                snprintf(buf, 64, "%s (uid %" PRIu32 ")", pw->pw_name, uid);
        else
                snprintf(buf, 64, "uid %" PRIu32, uid);
        return buf;
}

/* ----------------------------------------------------------- JSON output */

static int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* Adds a string, or null for NULL or "". */
static int json_add_string(json_object *o, const char *key, const char *s) {
        if (isempty(s))
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return json_add(o, key, json_object_new_string(s));
}

static int json_add_time(json_object *o, const char *key, uint64_t usec) {
        char buf[32];
        return json_add_string(o, key, format_iso(usec, buf));
}

static int json_add_strv(json_object *o, const char *key, char *const *v) {
        json_object *a = json_object_new_array();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; v && v[i]; i++) {
                json_object *s = json_object_new_string(v[i]);
                if (!s || json_object_array_add(a, s) < 0) {
                        json_object_put(s);
                        json_object_put(a);
                        return -ENOMEM;
                }
        }
        return json_add(o, key, a);
}

static json_object *key_to_json(const ak_key *k, uint64_t now) {
        json_object *o = json_object_new_object();
        uint64_t count = k->use_count > INT64_MAX ? INT64_MAX : k->use_count;

        if (!o)
                return NULL;
        if (json_add_string(o, "id", k->id) < 0 || json_add_string(o, "name", k->name) < 0 ||
            json_add_string(o, "description", k->description) < 0 ||
            json_add(o, "owner_uid", json_object_new_int64(k->owner_uid)) < 0 ||
            json_add_string(o, "owner_name", k->owner_name) < 0 ||
            json_add_string(o, "state", key_state(k, now)) < 0 ||
            json_add(o, "active", json_object_new_boolean(k->active)) < 0 ||
            json_add_time(o, "created_at", k->created_at) < 0 ||
            json_add(o, "created_by", json_object_new_int64(k->created_by)) < 0 ||
            json_add_time(o, "updated_at", k->updated_at) < 0 ||
            json_add(o, "updated_by", json_object_new_int64(k->updated_by)) < 0 ||
            json_add_time(o, "expires_at", k->expires_at) < 0 ||
            json_add_time(o, "rotated_at", k->rotated_at) < 0 ||
            json_add_strv(o, "services", k->services) < 0 ||
            json_add_strv(o, "networks", k->networks) < 0 ||
            json_add_strv(o, "scopes", k->scopes) < 0 ||
            json_add_time(o, "last_used_at", k->last_used_at) < 0 ||
            json_add_string(o, "last_used_service", k->last_used_service) < 0 ||
            json_add_string(o, "last_used_rhost", k->last_used_rhost) < 0 ||
            json_add(o, "use_count", json_object_new_int64((int64_t) count)) < 0 ||
            json_add(o, "failures", json_object_new_int64(k->failures)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static void json_print(json_object *o) {
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---------------------------------------------------------------- errors */

typedef enum verb {
        VERB_CREATE,
        VERB_LIST,
        VERB_SHOW,
        VERB_DELETE,
} verb;

/* What to do next.  The daemon's message already says what to change for a
 * refused request; the hints that only the CLI can give (its own commands,
 * the service to check) are always added, the others only when the daemon
 * said nothing. */
static const char *hint(verb v, int r, const args *a, bool daemon_explained) {
        switch (-r) {
        case ECONNREFUSED:
                return "is accesskeyd running? (systemctl status accesskeyd)";
        case ETIMEDOUT:
                return "accesskeyd is slow or stuck: check 'systemctl status accesskeyd', or "
                       "allow more time with --timeout=MS";
        case ENOENT:
                if (v == VERB_SHOW || v == VERB_DELETE)
                        return getuid() == 0 ? "list the keys with '" PROGRAM " list --all'"
                                             : "list your keys with '" PROGRAM " list'";
                break;
        default:
                break;
        }
        if (daemon_explained)
                return NULL;
        switch (-r) {
        case ENOENT:
                return "check the user name";
        case EACCES:
                if (a->user || a->all)
                        return "only root and the administrators' group may manage other "
                               "users' keys";
                return "only the key's owner, root and the administrators' group may manage it";
        case EDQUOT:
                return "delete a key you no longer use ('" PROGRAM " delete ID') or ask an "
                       "administrator to raise the limit in accesskeyd.conf";
        case EINVAL:
                return "see accesskeyctl(1) for the accepted values";
        case EBUSY:
                return "wait a minute and try again";
        default:
                return NULL;
        }
}

/* Reports a failed call on `what` with the library's words, the daemon's own
 * message and what to do next; returns the exit status for it. */
static int report(ak_client *c, verb v, const args *a, const char *what, int r) {
        const char *text = ak_strerror(r);
        const char *detail = c ? ak_client_last_error(c) : NULL;
        /* When the daemon was not reached, the message is libdbus's, long
         * and no help beyond what ak_strerror() says. */
        bool transport = r == -ECONNREFUSED || r == -ETIMEDOUT;
        bool explained = !transport && !isempty(detail) && !(text && streq(detail, text));
        const char *h = hint(v, r, a, explained);

        fprintf(stderr, PROGRAM ": %s: %s", what, text ? text : "unknown error");
        if (explained) {
                _cleanup_(freep) char *d = sanitize(detail);
                fprintf(stderr, ": %s", d ? d : detail);
        }
        if (h)
                fprintf(stderr, "; %s", h);
        fputc('\n', stderr);
        return EXIT_DAEMON;
}

/* Flushes stdout; a lost write is a failure, not a silent success. */
static int finish_output(void) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, PROGRAM ": writing the output failed: %s\n", strerror(errno));
                return -EIO;
        }
        return 0;
}

/* -------------------------------------------------------------- commands */

static int open_client(const args *a, ak_client **ret) {
        char what[PATH_MAX + 64];
        int r;

        r = ak_client_open(a->bus, a->socket_path, a->timeout_ms, ret);
        if (r >= 0)
                return 0;

        if (a->socket_path && a->bus)
                snprintf(what, sizeof what, "accesskeyd on socket %s or bus %s", a->socket_path,
                         a->bus);
        else if (a->socket_path)
                snprintf(what, sizeof what, "accesskeyd on socket %s or the system bus",
                         a->socket_path);
        else if (a->bus)
                snprintf(what, sizeof what, "accesskeyd on bus %s", a->bus);
        else
                snprintf(what, sizeof what,
                         "accesskeyd on socket " AK_DEFAULT_PRIVATE_SOCKET " or the system bus");

        if (r == -ETIMEDOUT)
                fprintf(stderr,
                        PROGRAM ": %s: %s; check 'systemctl status accesskeyd', or allow more "
                                "time with --timeout=MS\n",
                        what, ak_strerror(r));
        else if (r == -ECONNREFUSED)
                fprintf(stderr,
                        PROGRAM ": %s: %s; is accesskeyd running? (systemctl status "
                                "accesskeyd)\n",
                        what, ak_strerror(r));
        else
                fprintf(stderr,
                        PROGRAM ": %s: the daemon cannot be reached: %s; check --bus and "
                                "--socket, and whether accesskeyd is running (systemctl status "
                                "accesskeyd)\n",
                        what, ak_strerror(r));
        return EXIT_DAEMON;
}

/* Best effort: the secret must not linger in json-c's heap either. */
static void json_wipe_string(json_object *o) {
        if (o)
                erase_mem((char *) json_object_get_string(o),
                          (size_t) json_object_get_string_len(o));
}

static int print_created(const char *id, const char *secret, bool expires_known,
                         uint64_t expires_at, bool json) {
        static const char notice[] =
                "The secret is shown only this once and cannot be recovered; store it now.";
        uint64_t now = now_usec();

        if (json) {
                /* We keep a reference of our own on the secret's string so
                 * it can be wiped whatever happened to the object. */
                json_object *o = json_object_new_object(), *s = json_object_new_string(secret);
                char buf[32];
                int r = -ENOMEM;

                if (o && s && json_add_string(o, "id", id) >= 0 &&
                    json_add(o, "secret", json_object_get(s)) >= 0 &&
                    (!expires_known ||
                     json_add_string(o, "expires_at", format_iso(expires_at, buf)) >= 0)) {
                        size_t len;
                        const char *text = json_object_to_json_string_length(
                                o,
                                JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                        JSON_C_TO_STRING_NOSLASHESCAPE,
                                &len);
                        if (text) {
                                puts(text);
                                erase_mem((char *) text, len);
                                r = 0;
                        }
                }
                json_wipe_string(s);
                json_object_put(o);
                json_object_put(s);
                if (r < 0)
                        return r;
                /* stdout stays pure JSON for the program reading it. */
                fprintf(stderr, "%s\n", notice);
                return 0;
        }

        printf("Access key ID:  %s\n"
               "Secret:         %s\n",
               id, secret);
        if (!expires_known)
                printf("Expires:        the configured default (see '" PROGRAM " show %s')\n", id);
        else if (expires_at == 0)
                printf("Expires:        never\n");
        else {
                char buf[32], rel[48];
                printf("Expires:        %s%s\n", format_time(expires_at, buf),
                       format_relative(expires_at, now, rel));
        }
        printf("\n%s\n", notice);
        return 0;
}

static int cmd_create(ak_client *c, const args *a, char **argv) {
        _cleanup_(freep) char *id = NULL;
        char *secret = NULL;
        ak_create_options opts = {
                .owner = a->user,
                .name = a->name,
                .description = a->description,
                .services = (const char *const *) a->services,
                .networks = (const char *const *) a->networks,
                .scopes = (const char *const *) a->scopes,
        };
        bool expires_known;
        uint64_t expires_at = 0;
        int r;

        if (a->expires) {
                opts.set_expires = true;
                opts.expires_at = a->expires_at;
        }

        r = ak_create_key(c, &opts, &id, &secret);
        if (r < 0) {
                char what[300];
                _cleanup_(freep) char *n = sanitize(a->name);
                snprintf(what, sizeof what, "creating key '%s'%s%s", n ? n : a->name,
                         a->user ? " for user " : "", a->user ? a->user : "");
                return report(c, VERB_CREATE, a, what, r);
        }

        /* The daemon has the last word on the expiry (a configured default or
         * maximum lifetime); ask it, but never let that stand between the user
         * and the only copy of the secret. */
        ak_key *k = NULL;
        if (ak_get_key(c, id, &k) >= 0) {
                expires_known = true;
                expires_at = k->expires_at;
                ak_key_free(k);
        } else {
                expires_known = opts.set_expires;
                expires_at = opts.expires_at;
        }

        /* A reader that went away must not kill us silently: the user has to
         * learn that the secret was lost. */
        (void) signal(SIGPIPE, SIG_IGN);
        r = print_created(id, secret, expires_known, expires_at, a->json);
        ak_secret_free(secret);
        if (r >= 0)
                r = finish_output();
        if (r < 0) {
                fprintf(stderr,
                        PROGRAM ": key %s: the secret could not be printed and is lost; delete "
                                "the key with '" PROGRAM " delete %s' and create a new one\n",
                        id, id);
                return EXIT_DAEMON;
        }
        return EXIT_OK;
}

static int key_compare(const void *x, const void *y) {
        const ak_key *a = *(ak_key *const *) x, *b = *(ak_key *const *) y;

        if (a->owner_uid != b->owner_uid)
                return a->owner_uid < b->owner_uid ? -1 : 1;
        if (a->created_at != b->created_at)
                return a->created_at < b->created_at ? -1 : 1;
        return strcmp(a->id, b->id);
}

static int print_table(ak_key **keys, size_t n, uint64_t now) {
        enum {
                COL_ID,
                COL_NAME,
                COL_OWNER,
                COL_STATE,
                COL_EXPIRES,
                COL_USED,
                N_COLS
        };
        static const char *const header[N_COLS] = { "ID",    "NAME",    "OWNER",
                                                    "STATE", "EXPIRES", "LAST USED" };
        size_t width[N_COLS];
        char ***cells = calloc(n, sizeof(char **));
        int r = 0;

        if (!cells)
                return -ENOMEM;
        for (size_t c = 0; c < N_COLS; c++)
                width[c] = strlen(header[c]);

        for (size_t i = 0; i < n && r == 0; i++) {
                const ak_key *k = keys[i];
                char t1[32], t2[32], owner[32];

                cells[i] = calloc(N_COLS + 1, sizeof(char *));
                if (!cells[i]) {
                        r = -ENOMEM;
                        break;
                }
                snprintf(owner, sizeof owner, "%" PRIu32, k->owner_uid);
                cells[i][COL_ID] = strdup(k->id);
                cells[i][COL_NAME] = sanitize(k->name);
                cells[i][COL_OWNER] = sanitize(isempty(k->owner_name) ? owner : k->owner_name);
                cells[i][COL_STATE] = strdup(key_state(k, now));
                cells[i][COL_EXPIRES] = strdup(format_time(k->expires_at, t1));
                cells[i][COL_USED] = strdup(format_time(k->last_used_at, t2));
                for (size_t c = 0; c < N_COLS; c++) {
                        if (!cells[i][c]) {
                                r = -ENOMEM;
                                break;
                        }
                        size_t w = text_width(cells[i][c]);
                        if (w > width[c])
                                width[c] = w;
                }
        }

        if (r == 0)
                for (size_t i = 0; i <= n; i++) {
                        for (size_t c = 0; c < N_COLS; c++) {
                                const char *s = i == 0 ? header[c] : cells[i - 1][c];
                                fputs(s, stdout);
                                if (c + 1 < N_COLS)
                                        printf("%*s", (int) (width[c] - text_width(s) + 2), "");
                        }
                        putchar('\n');
                }

        for (size_t i = 0; i < n; i++)
                strv_free(cells[i]);
        free(cells);
        return r;
}

static int cmd_list(ak_client *c, const args *a, char **argv) {
        ak_list_filter filter = { .owner = a->user, .all = a->all };
        ak_key **keys = NULL;
        size_t n = 0;
        uint64_t now = now_usec();
        int r;

        r = ak_list_keys(c, &filter, &keys, &n);
        if (r < 0) {
                char what[300];
                if (a->all)
                        snprintf(what, sizeof what, "listing all keys");
                else if (a->user)
                        snprintf(what, sizeof what, "listing the keys of user %s", a->user);
                else
                        snprintf(what, sizeof what, "listing your keys");
                return report(c, VERB_LIST, a, what, r);
        }

        if (n > 1)
                qsort(keys, n, sizeof(ak_key *), key_compare);

        if (a->json) {
                json_object *arr = json_object_new_array();
                for (size_t i = 0; arr && i < n; i++) {
                        json_object *o = key_to_json(keys[i], now);
                        if (!o || json_object_array_add(arr, o) < 0) {
                                json_object_put(o);
                                json_object_put(arr);
                                arr = NULL;
                        }
                }
                if (arr)
                        json_print(arr);
                json_object_put(arr);
                r = arr ? 0 : -ENOMEM;
        } else if (n == 0) {
                printf("No access keys.\n");
        } else
                r = print_table(keys, n, now);

        ak_key_list_free(keys, n);
        if (r < 0)
                return oom();
        return finish_output() < 0 ? EXIT_DAEMON : EXIT_OK;
}

static int print_key(const ak_key *k, uint64_t now) {
        _cleanup_(freep) char *name = sanitize(k->name);
        _cleanup_(freep) char *description =
                sanitize(isempty(k->description) ? "-" : k->description);
        _cleanup_(freep) char *owner = sanitize(k->owner_name);
        _cleanup_(freep) char *services = strv_join(k->services, "any");
        _cleanup_(freep) char *networks = strv_join(k->networks, "any");
        _cleanup_(freep) char *scopes = strv_join(k->scopes, "none");
        _cleanup_(freep) char *services_s = sanitize(services);
        _cleanup_(freep) char *networks_s = sanitize(networks);
        _cleanup_(freep) char *scopes_s = sanitize(scopes);
        char t[32], rel[48], who[64];

        if (!name || !description || !owner || !services_s || !networks_s || !scopes_s)
                return -ENOMEM;

        printf("ID:           %s\n", k->id);
        printf("Name:         %s\n", name);
        printf("Description:  %s\n", description);
        if (isempty(owner))
                printf("Owner:        uid %" PRIu32 "\n", k->owner_uid);
        else
                printf("Owner:        %s (uid %" PRIu32 ")\n", owner, k->owner_uid);
        printf("State:        %s\n", key_state(k, now));
        printf("Created:      %s by %s\n", format_time(k->created_at, t),
               user_name(k->created_by, who));
        if (k->updated_at == 0)
                printf("Updated:      never\n");
        else
                printf("Updated:      %s by %s\n", format_time(k->updated_at, t),
                       user_name(k->updated_by, who));
        printf("Rotated:      %s\n", format_time(k->rotated_at, t));
        if (k->expires_at == 0)
                printf("Expires:      never\n");
        else
                printf("Expires:      %s%s\n", format_time(k->expires_at, t),
                       format_relative(k->expires_at, now, rel));
        printf("Services:     %s\n", services_s);
        printf("Networks:     %s\n", networks_s);
        printf("Scopes:       %s\n", scopes_s);
        if (k->last_used_at == 0)
                printf("Last used:    never\n");
        else {
                _cleanup_(freep) char *svc =
                        sanitize(isempty(k->last_used_service) ? "?" : k->last_used_service);
                _cleanup_(freep) char *rhost =
                        sanitize(isempty(k->last_used_rhost) ? "local" : k->last_used_rhost);
                if (!svc || !rhost)
                        return -ENOMEM;
                printf("Last used:    %s%s, service %s, from %s\n", format_time(k->last_used_at, t),
                       format_relative(k->last_used_at, now, rel), svc, rhost);
        }
        printf("Use count:    %" PRIu64 "\n", k->use_count);
        printf("Failures:     %" PRIu32 "\n", k->failures);
        return 0;
}

static int cmd_show(ak_client *c, const args *a, char **argv) {
        const char *id = argv[0];
        ak_key *k = NULL;
        uint64_t now = now_usec();
        char what[64];
        int r;

        r = ak_get_key(c, id, &k);
        if (r < 0) {
                snprintf(what, sizeof what, "key %s", id);
                return report(c, VERB_SHOW, a, what, r);
        }

        if (a->json) {
                json_object *o = key_to_json(k, now);
                if (o)
                        json_print(o);
                json_object_put(o);
                r = o ? 0 : -ENOMEM;
        } else
                r = print_key(k, now);
        ak_key_free(k);
        if (r < 0)
                return oom();
        return finish_output() < 0 ? EXIT_DAEMON : EXIT_OK;
}

static int cmd_delete(ak_client *c, const args *a, char **argv) {
        const char *id = argv[0];
        char what[64];
        int r;

        r = ak_delete_key(c, id);
        if (r < 0) {
                snprintf(what, sizeof what, "key %s", id);
                return report(c, VERB_DELETE, a, what, r);
        }
        return EXIT_OK;
}

/* ------------------------------------------------------ the command line */

typedef struct command {
        const char *name;
        unsigned n_args;  /* positional arguments after the command name */
        const char *args; /* their names, for the usage message */
        unsigned options; /* OPT_* the command takes */
        int (*run)(ak_client *c, const args *a, char **argv);
} command;

static const command commands[] = {
        { "create", 0, NULL,
          OPT_NAME | OPT_DESCRIPTION | OPT_USER | OPT_EXPIRES | OPT_SERVICE | OPT_NETWORK |
                  OPT_SCOPE,
          cmd_create },
        { "list", 0, NULL, OPT_USER | OPT_ALL, cmd_list },
        { "show", 1, "ID", 0, cmd_show },
        { "delete", 1, "ID", 0, cmd_delete },
        { "help", 0, NULL, 0, NULL },
};

/* Whether an argument may hold a secret ("ID:SECRET" or a bare secret pasted
 * by mistake): such an argument is never echoed, so that it does not end up on
 * the screen or in a log of the terminal session. */
static bool may_hold_secret(const char *s) {
        return strchr(s, ':') || strstr(s, AK_SECRET_PREFIX);
}

/* A copy of an argument fit to quote in a message. */
static char *quote_arg(const char *s) {
        char *r = sanitize(may_hold_secret(s) ? "(not shown: it looks like a secret)" : s);
        if (r && strlen(r) > 40)
                strcpy(r + 37, "...");
        return r;
}

/* A key ID argument is checked here so that a typo is a usage error that
 * never reaches the daemon. */
static int verify_id(const char *s) {
        if (ak_id_is_valid(s))
                return 0;
        if (may_hold_secret(s))
                return usage_error("the argument is not an access key ID, and it looks like it "
                                   "holds a secret: pass only the ID (AK followed by 18 "
                                   "characters A-Z, 2-7) and keep the secret off the command line");

        _cleanup_(freep) char *shown = quote_arg(s);
        return usage_error("'%s' is not an access key ID: expected AK followed by 18 characters "
                           "A-Z and 2-7, such as AKQ3ZC7MBY2XW4TL5NR6",
                           shown ? shown : "");
}

static int verify_args(const command *cmd, args *a, char **argv) {
        unsigned extra = a->seen & ~cmd->options;

        for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                if (extra & (1U << i))
                        return usage_error("option %s does not apply to '%s'", option_names[i],
                                           cmd->name);

        if (streq(cmd->name, "create")) {
                int r;

                if (isempty(a->name))
                        return usage_error("'create' needs a name for the key: --name NAME");
                if (a->expires) {
                        r = parse_expiry(a->expires, now_usec(), &a->expires_at);
                        if (r == -ERANGE)
                                return usage_error("--expires %s: the time must lie in the future "
                                                   "and before the year 10000",
                                                   a->expires);
                        if (r < 0)
                                return usage_error("--expires %s: expected 'never', a UTC date "
                                                   "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, or a time "
                                                   "from now such as 90d, 2w, 12h or 30m",
                                                   a->expires);
                }
        }
        if (streq(cmd->name, "list") && a->user && a->all)
                return usage_error("'list' takes either --user USER or --all, not both");

        for (unsigned i = 0; i < cmd->n_args; i++)
                if (streq(cmd->args, "ID") && verify_id(argv[i]) != 0)
                        return EXIT_USAGE;
        return 0;
}

static int parse_timeout(const char *s, unsigned *ret) {
        char *end;
        unsigned long v;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v == 0 || v > CLI_MAX_TIMEOUT_MS)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

enum {
        ARG_BUS = 0x100,
        ARG_SOCKET,
        ARG_TIMEOUT,
        ARG_JSON,
        ARG_VERSION,
        ARG_NAME,
        ARG_DESCRIPTION,
        ARG_USER,
        ARG_EXPIRES,
        ARG_SERVICE,
        ARG_NETWORK,
        ARG_SCOPE,
        ARG_ALL,
};

/* Options may come before or after the command, as with systemctl. */
static int parse_argv(int argc, char **argv, args *a, bool *ret_done) {
        static const struct option options[] = {
                { "bus", required_argument, NULL, ARG_BUS },
                { "socket", required_argument, NULL, ARG_SOCKET },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "name", required_argument, NULL, ARG_NAME },
                { "description", required_argument, NULL, ARG_DESCRIPTION },
                { "user", required_argument, NULL, ARG_USER },
                { "expires", required_argument, NULL, ARG_EXPIRES },
                { "service", required_argument, NULL, ARG_SERVICE },
                { "network", required_argument, NULL, ARG_NETWORK },
                { "scope", required_argument, NULL, ARG_SCOPE },
                { "all", no_argument, NULL, ARG_ALL },
                {},
        };
        int c;

        *ret_done = false;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        *ret_done = true;
                        return EXIT_OK;
                case ARG_VERSION:
                        printf(PROGRAM " (" PACKAGE_NAME ") " PACKAGE_VERSION "\n");
                        *ret_done = true;
                        return EXIT_OK;
                case ARG_BUS:
                        if (isempty(optarg))
                                return usage_error(
                                        "--bus needs 'system', 'session' or a D-Bus "
                                        "address such as unix:path=/run/dbus/system_bus_socket");
                        a->bus = optarg;
                        break;
                case ARG_SOCKET:
                        if (isempty(optarg) || optarg[0] != '/')
                                return usage_error(
                                        "--socket needs an absolute path, such as " AK_DEFAULT_PRIVATE_SOCKET);
                        a->socket_path = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (parse_timeout(optarg, &a->timeout_ms) < 0)
                                return usage_error(
                                        "--timeout %s: expected milliseconds from 1 to %u", optarg,
                                        CLI_MAX_TIMEOUT_MS);
                        break;
                case ARG_JSON:
                        a->json = true;
                        break;
                case ARG_NAME:
                        a->seen |= OPT_NAME;
                        a->name = optarg;
                        break;
                case ARG_DESCRIPTION:
                        a->seen |= OPT_DESCRIPTION;
                        a->description = optarg;
                        break;
                case ARG_USER:
                        if (isempty(optarg))
                                return usage_error("--user needs a user name");
                        a->seen |= OPT_USER;
                        a->user = optarg;
                        break;
                case ARG_EXPIRES:
                        a->seen |= OPT_EXPIRES;
                        a->expires = optarg;
                        break;
                case ARG_SERVICE:
                case ARG_NETWORK:
                case ARG_SCOPE: {
                        char ***v = c == ARG_SERVICE   ? &a->services
                                    : c == ARG_NETWORK ? &a->networks
                                                       : &a->scopes;
                        a->seen |= c == ARG_SERVICE   ? OPT_SERVICE
                                   : c == ARG_NETWORK ? OPT_NETWORK
                                                      : OPT_SCOPE;
                        if (isempty(optarg))
                                return usage_error("%s needs a value", argv[optind - 1]);
                        if (strv_push(v, optarg) < 0)
                                return oom();
                        break;
                }
                case ARG_ALL:
                        a->seen |= OPT_ALL;
                        a->all = true;
                        break;
                case '?':
                        /* getopt_long() has said what was wrong. */
                        fputs("Try '" PROGRAM " --help' for more information.\n", stderr);
                        return EXIT_USAGE;
                default:
                        assert(false);
                        return EXIT_USAGE;
                }
        }
        return EXIT_OK;
}

int main(int argc, char **argv) {
        args a = { .timeout_ms = CLI_DEFAULT_TIMEOUT_MS };
        const command *cmd = NULL;
        ak_client *c = NULL;
        bool done;
        int r;

        r = parse_argv(argc, argv, &a, &done);
        if (r != EXIT_OK || done)
                goto out;

        if (optind >= argc) {
                r = usage_error("no command given: use create, list, show or delete");
                goto out;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, argv[optind]))
                        cmd = &commands[i];
        if (!cmd) {
                _cleanup_(freep) char *shown = quote_arg(argv[optind]);
                r = usage_error("unknown command '%s': use create, list, show or delete",
                                shown ? shown : "");
                goto out;
        }
        optind++;

        if ((unsigned) (argc - optind) != cmd->n_args) {
                if ((unsigned) (argc - optind) < cmd->n_args)
                        r = usage_error("'%s' needs an argument: " PROGRAM " %s %s", cmd->name,
                                        cmd->name, cmd->args);
                else {
                        _cleanup_(freep) char *shown = quote_arg(argv[optind + cmd->n_args]);
                        r = usage_error("'%s' takes %s, but got '%s' too", cmd->name,
                                        cmd->n_args == 0 ? "no arguments" : "only an ID",
                                        shown ? shown : "");
                }
                goto out;
        }
        if (!cmd->run) {
                help();
                r = EXIT_OK;
                goto out;
        }
        r = verify_args(cmd, &a, argv + optind);
        if (r != 0)
                goto out;

        r = open_client(&a, &c);
        if (r != EXIT_OK)
                goto out;
        r = cmd->run(c, &a, argv + optind);

out:
        ak_client_close(c);
        args_done(&a);
        return r;
}
