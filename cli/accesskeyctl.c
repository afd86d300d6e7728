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
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "accesskey.h"
#include "credential.h"
#include "timeutil.h"
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
        OPT_CLEAR_SERVICES = 1U << 8,
        OPT_CLEAR_NETWORKS = 1U << 9,
        OPT_CLEAR_SCOPES = 1U << 10,
        OPT_GRACE = 1U << 11,
        OPT_WITHIN = 1U << 12,
        OPT_OUTPUT = 1U << 13,
        OPT_FORMAT = 1U << 14,
        OPT_ADD_SCOPE = 1U << 15,
        OPT_REMOVE_SCOPE = 1U << 16,
};

static const char *const option_names[] = {
        "--name",         "--description",  "--user",   "--expires",        "--service",
        "--network",      "--scope",        "--all",    "--clear-services", "--clear-networks",
        "--clear-scopes", "--grace",        "--within", "--output",         "--format",
        "--add-scope",    "--remove-scope",
};

/* What 'update' can change; it needs at least one of them. */
#define OPTS_CHANGE                                                                                \
        (OPT_NAME | OPT_DESCRIPTION | OPT_EXPIRES | OPT_SERVICE | OPT_NETWORK | OPT_SCOPE |        \
         OPT_CLEAR_SERVICES | OPT_CLEAR_NETWORKS | OPT_CLEAR_SCOPES | OPT_ADD_SCOPE |              \
         OPT_REMOVE_SCOPE)

/* How a new secret is handed over (--format), to --output or to stdout. */
typedef enum output_format {
        FORMAT_TEXT,
        FORMAT_CSV,
        FORMAT_ENV,
        FORMAT_JSON,
} output_format;

static const char *const format_names[] = {
        [FORMAT_TEXT] = "text",
        [FORMAT_CSV] = "csv",
        [FORMAT_ENV] = "env",
        [FORMAT_JSON] = "json",
};

/* The horizon of 'summary' when --within is not given, as the daemon's. */
#define SUMMARY_DEFAULT_WITHIN_USEC (UINT64_C(30) * 24 * 3600 * USEC_PER_SEC)

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
        char **add_scopes;    /* update --add-scope */
        char **remove_scopes; /* update --remove-scope */
        bool all;
        const char *grace;
        uint64_t grace_usec; /* parsed from grace by verify_args() */
        const char *within;
        uint64_t within_usec; /* parsed from within by verify_args() */
        const char *output;   /* --output FILE */
        output_format format; /* resolved by verify_args() */
} args;

static void args_done(args *a) {
        strv_free(a->services);
        strv_free(a->networks);
        strv_free(a->scopes);
        strv_free(a->add_scopes);
        strv_free(a->remove_scopes);
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
               "         [--output FILE] [--format FORMAT]\n"
               "                        Create a key; print its ID and its secret (once)\n"
               "  list [--user USER | --all]\n"
               "                        List your keys, USER's keys, or all you may manage\n"
               "  show ID               Show every field of a key\n"
               "  update ID [--name NAME] [--description TEXT] [--expires WHEN]\n"
               "         [--service SERVICE]... [--network CIDR]... [--scope SCOPE]...\n"
               "         [--clear-services] [--clear-networks] [--clear-scopes]\n"
               "         [--add-scope SCOPE]... [--remove-scope SCOPE]...\n"
               "                        Change a key's settings; a list given replaces the\n"
               "                        old one, --clear-* lifts the restriction,\n"
               "                        --add-scope/--remove-scope keep the other scopes\n"
               "  deactivate ID         Make logins with a key fail, keeping its secret\n"
               "  reactivate ID         Make a deactivated key work again\n"
               "  rotate ID [--grace SPAN] [--output FILE] [--format FORMAT]\n"
               "                        Give a key a new secret and print it (once); with\n"
               "                        --grace the old secret works for SPAN more\n"
               "  summary [--within SPAN]\n"
               "                        Count the keys by state, and those expiring within\n"
               "                        SPAN (default 30d)\n"
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
               "      --output=FILE     create, rotate: write the ID and secret to FILE, a new\n"
               "                        file of mode 0600, rather than to standard output\n"
               "      --format=FORMAT   create, rotate: text, csv, env or json\n"
               "  -h, --help            Show this help\n"
               "      --version         Show the version\n"
               "\n"
               "WHEN is 'never', a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, or a time\n"
               "from now: Nw, Nd, Nh or Nm (weeks, days, hours, minutes), e.g. 90d.\n"
               "SPAN is Nw, Nd, Nh, Nm or Ns, e.g. 10m.\n"
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

/* "10 minutes", "30 days": a span in its largest whole unit. */
static const char *format_span(uint64_t usec, char buf[static 48]) {
        static const struct {
                uint64_t sec;
                const char *name;
        } units[] = {
                { 7 * 24 * 3600, "week" }, { 24 * 3600, "day" }, { 3600, "hour" },
                { 60, "minute" },          { 1, "second" },
        };
        uint64_t sec = usec / USEC_PER_SEC;
        size_t i = 0;

        while (i < ELEMENTSOF(units) - 1 && (sec < units[i].sec || sec % units[i].sec != 0))
                i++;
        uint64_t n = sec / units[i].sec;
        snprintf(buf, 48, "%" PRIu64 " %s%s", n, units[i].name, n == 1 ? "" : "s");
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
        VERB_UPDATE,
        VERB_DEACTIVATE,
        VERB_REACTIVATE,
        VERB_ROTATE,
        VERB_SUMMARY,
} verb;

/* Whether the verb works on one key named by its ID. */
static bool verb_takes_id(verb v) {
        return v != VERB_CREATE && v != VERB_LIST && v != VERB_SUMMARY;
}

/* What to do next.  The daemon's message already says what to change for a
 * refused request; the hints that only the CLI can give (its own commands,
 * the service to check) are always added, the others only when the daemon
 * said nothing. */
static const char *hint(verb v, int r, const args *a, const char *id, bool daemon_explained,
                        char buf[static 160]) {
        switch (-r) {
        case ECONNREFUSED:
                return "is accesskeyd running? (systemctl status accesskeyd)";
        case ETIMEDOUT:
                return "accesskeyd is slow or stuck: check 'systemctl status accesskeyd', or "
                       "allow more time with --timeout=MS";
        case ENOENT:
                if (verb_takes_id(v))
                        return getuid() == 0 ? "list the keys with '" PROGRAM " list --all'"
                                             : "list your keys with '" PROGRAM " list'";
                break;
        case EKEYEXPIRED:
                if (id) {
                        snprintf(buf, 160,
                                 "extend its lifetime first with '" PROGRAM
                                 " update %s --expires 30d'",
                                 id);
                        return buf;
                }
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
static int report(ak_client *c, verb v, const args *a, const char *id, const char *what, int r) {
        const char *text = ak_strerror(r);
        const char *detail = c ? ak_client_last_error(c) : NULL;
        /* When the daemon was not reached, the message is libdbus's, long
         * and no help beyond what ak_strerror() says. */
        bool transport = r == -ECONNREFUSED || r == -ETIMEDOUT;
        bool explained = !transport && !isempty(detail) && !(text && streq(detail, text));
        char buf[160];
        const char *h = hint(v, r, a, id, explained, buf);

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

/* ------------------------------------------------------- secret hand-off */

static const char handoff_notice[] =
        "The secret is shown only this once and cannot be recovered; store it now.";

/* A new secret on its way to the person who asked for it, from create or
 * rotate.  It is handed over exactly once: to --output, or to stdout. */
typedef struct handoff {
        const char *id;
        const char *secret;
        bool rotated;         /* from rotate, else from create */
        bool expires_known;   /* whether expires_at is known */
        uint64_t expires_at;  /* 0: never */
        uint64_t grace_until; /* rotate: when the previous secret stops, 0: already */
        const char *file;     /* --output, or NULL for stdout */
} handoff;

/* The JSON of a hand-off, newline-terminated.  A file gets the credentials
 * alone, {id, secret}; stdout also gets what the text would say (expiry,
 * grace, the file), and not the secret when it went to the file.  Returns a
 * copy to release with erase_and_free(), or NULL when out of memory. */
static char *handoff_json(const handoff *h, bool for_file) {
        bool with_secret = for_file || !h->file;
        /* We keep a reference of our own on the secret's string so it can be
         * wiped whatever happened to the object. */
        json_object *o = json_object_new_object();
        json_object *s = with_secret ? json_object_new_string(h->secret) : NULL;
        char buf[32], *ret = NULL;
        bool ok = o && (!with_secret || s) && json_add_string(o, "id", h->id) >= 0 &&
                  (!with_secret || json_add(o, "secret", json_object_get(s)) >= 0);

        if (ok && !for_file && h->file)
                ok = json_add_string(o, "secret_file", h->file) >= 0;
        if (ok && !for_file && h->expires_known)
                ok = json_add_string(o, "expires_at", format_iso(h->expires_at, buf)) >= 0;
        if (ok && !for_file && h->rotated)
                ok = json_add_string(o, "previous_secret_expires_at",
                                     format_iso(h->grace_until, buf)) >= 0;
        if (ok) {
                size_t len;
                const char *text = json_object_to_json_string_length(
                        o,
                        JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                JSON_C_TO_STRING_NOSLASHESCAPE,
                        &len);
                if (text) {
                        ret = malloc(len + 2);
                        if (ret) {
                                memcpy(ret, text, len);
                                ret[len] = '\n';
                                ret[len + 1] = '\0';
                        }
                        erase_mem((char *) text, len);
                }
        }
        json_wipe_string(s);
        json_object_put(o);
        json_object_put(s);
        return ret;
}

/* The credentials in format f: what --output writes, and what csv, env and
 * json print.  Returns a copy to release with erase_and_free(), or NULL. */
static char *handoff_format(const handoff *h, output_format f, bool for_file) {
        char *r = NULL;
        int n = -1;

        switch (f) {
        case FORMAT_TEXT:
                n = asprintf(&r, "Access key ID:  %s\nSecret:         %s\n", h->id, h->secret);
                break;
        case FORMAT_CSV:
                n = asprintf(&r, "access_key_id,secret\n%s,%s\n", h->id, h->secret);
                break;
        case FORMAT_ENV:
                /* Both values are [A-Za-z0-9_]: no quoting needed for a
                 * shell, a systemd EnvironmentFile= or docker --env-file. */
                n = asprintf(&r, "ACCESSKEY_ID=%s\nACCESSKEY_SECRET=%s\n", h->id, h->secret);
                break;
        case FORMAT_JSON:
                return handoff_json(h, for_file);
        }
        return n < 0 ? NULL : r;
}

/* The text a person reads: the ID, the secret (or where it went), the
 * expiry, and what became of the previous secret. */
static void print_handoff_text(const handoff *h) {
        uint64_t now = now_usec();
        char buf[32], rel[48];

        printf("Access key ID:  %s\n", h->id);
        if (!h->file)
                printf("Secret:         %s\n", h->secret);
        if (!h->expires_known) {
                /* Rotation keeps the expiry; only a new key has a default. */
                if (!h->rotated)
                        printf("Expires:        the configured default (see '" PROGRAM
                               " show %s')\n",
                               h->id);
        } else if (h->expires_at == 0)
                printf("Expires:        never\n");
        else
                printf("Expires:        %s%s\n", format_time(h->expires_at, buf),
                       format_relative(h->expires_at, now, rel));
        putchar('\n');
        if (h->rotated && h->grace_until == 0)
                printf("The previous secret no longer works.\n");
        else if (h->rotated)
                printf("The previous secret keeps working until %s%s, then never again.\n",
                       format_time(h->grace_until, buf), format_relative(h->grace_until, now, rel));
        if (h->file) {
                _cleanup_(freep) char *shown = sanitize(h->file);
                printf("Secret written to %s\n", shown ? shown : h->file);
        } else
                printf("%s\n", handoff_notice);
}

/* Creates the --output file before the daemon is asked, so that a path that
 * cannot be used costs neither a key nor the current secret.  O_EXCL: a
 * secret never replaces, nor is appended to, what is there, and never
 * follows a symbolic link planted in its place. */
static int open_output(const char *path, int *ret_fd) {
        _cleanup_(freep) char *shown = NULL;
        int fd;

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }

        int e = errno;
        shown = sanitize(path);
        if (e == EEXIST)
                fprintf(stderr,
                        PROGRAM ": --output %s: the file exists, and a secret is never written "
                                "over a file; choose another path or remove it first\n",
                        shown ? shown : path);
        else
                fprintf(stderr, PROGRAM ": --output %s: cannot create the file: %s\n",
                        shown ? shown : path, strerror(e));
        return -e;
}

/* Removes path only if it still is the file open on fd: in a directory
 * others may write, the name could by now point elsewhere. */
static void unlink_if_same(const char *path, int fd) {
        struct stat a, b;
        if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
                (void) unlink(path);
}

/* The request failed: the file made by open_output() is empty; remove it. */
static void discard_output(const char *path, int *fd) {
        if (*fd < 0)
                return;
        unlink_if_same(path, *fd);
        (void) close(*fd);
        *fd = -1;
}

/* Writes data to the new file at path, open as *fd, and makes it durable
 * before we say it is there.  On failure the file is removed, so that no
 * partial secret is left behind.  Closes *fd in any case. */
static int write_output(const char *path, int *fd, const char *data) {
        size_t len = strlen(data);
        ssize_t n = write(*fd, data, len);
        int r = 0;

        if (n < 0)
                r = -errno;
        else if ((size_t) n != len)
                r = -ENOSPC; /* a regular file takes less only when the disk is full */
        else if (fsync(*fd) < 0)
                r = -errno;
        if (r < 0)
                unlink_if_same(path, *fd);
        if (close(*fd) < 0 && r == 0) {
                r = -errno;
                (void) unlink(path); /* (the descriptor is gone: by name only) */
        }
        *fd = -1;

        if (r < 0) {
                _cleanup_(freep) char *shown = sanitize(path);
                fprintf(stderr,
                        PROGRAM ": --output %s: writing the secret failed: %s; the file "
                                "was removed\n",
                        shown ? shown : path, strerror(-r));
        }
        return r;
}

/* Hands the secret over: into the --output file open as *fd, or to stdout
 * in the chosen format.  Returns a negative errno when it did not arrive. */
static int deliver_secret(const handoff *h, const args *a, int *fd) {
        /* A reader that went away must not kill us silently: the user has to
         * learn that the secret was lost. */
        (void) signal(SIGPIPE, SIG_IGN);

        if (h->file) {
                _cleanup_(erase_and_freep) char *data = handoff_format(h, a->format, true);
                if (!data) {
                        discard_output(h->file, fd);
                        return -ENOMEM;
                }
                return write_output(h->file, fd, data);
        }

        if (a->format == FORMAT_TEXT)
                print_handoff_text(h);
        else {
                _cleanup_(erase_and_freep) char *data = handoff_format(h, a->format, false);
                if (!data)
                        return -ENOMEM;
                fputs(data, stdout);
                /* stdout stays pure data for the program reading it. */
                fprintf(stderr, "%s\n", handoff_notice);
        }
        return finish_output();
}

/* After the secret went to a file: the rest, on stdout. */
static int print_receipt(const handoff *h, const args *a) {
        if (a->json) {
                _cleanup_(erase_and_freep) char *data = handoff_json(h, false);
                if (!data)
                        return oom();
                fputs(data, stdout);
        } else
                print_handoff_text(h);
        return finish_output() < 0 ? EXIT_DAEMON : EXIT_OK;
}

static int cmd_create(ak_client *c, const args *a, char **argv) {
        _cleanup_(freep) char *id = NULL;
        _cleanup_(closep) int fd = -1;
        char *secret = NULL;
        ak_create_options opts = {
                .owner = a->user,
                .name = a->name,
                .description = a->description,
                .services = (const char *const *) a->services,
                .networks = (const char *const *) a->networks,
                .scopes = (const char *const *) a->scopes,
        };
        handoff h = { .file = a->output };
        int r;

        if (a->expires) {
                opts.set_expires = true;
                opts.expires_at = a->expires_at;
        }

        if (a->output && open_output(a->output, &fd) < 0)
                return EXIT_DAEMON;

        r = ak_create_key(c, &opts, &id, &secret);
        if (r < 0) {
                char what[300];
                _cleanup_(freep) char *n = sanitize(a->name);
                discard_output(a->output, &fd);
                snprintf(what, sizeof what, "creating key '%s'%s%s", n ? n : a->name,
                         a->user ? " for user " : "", a->user ? a->user : "");
                return report(c, VERB_CREATE, a, NULL, what, r);
        }

        /* The daemon has the last word on the expiry (a configured default or
         * maximum lifetime); ask it, but never let that stand between the user
         * and the only copy of the secret. */
        ak_key *k = NULL;
        if (ak_get_key(c, id, &k) >= 0) {
                h.expires_known = true;
                h.expires_at = k->expires_at;
                ak_key_free(k);
        } else {
                h.expires_known = opts.set_expires;
                h.expires_at = opts.expires_at;
        }

        h.id = id;
        h.secret = secret;
        r = deliver_secret(&h, a, &fd);
        ak_secret_free(secret);
        h.secret = NULL;
        if (r < 0) {
                fprintf(stderr,
                        PROGRAM ": key %s: the secret could not be %s and is lost; delete the key "
                                "with '" PROGRAM " delete %s' and create a new one\n",
                        id, a->output ? "written" : "printed", id);
                return EXIT_DAEMON;
        }
        return a->output ? print_receipt(&h, a) : EXIT_OK;
}

static int cmd_rotate(ak_client *c, const args *a, char **argv) {
        const char *id = argv[0];
        _cleanup_(closep) int fd = -1;
        char *secret = NULL, what[64];
        handoff h = { .id = id, .rotated = true, .file = a->output };
        uint64_t now;
        bool active = true;
        int r;

        if (a->output && open_output(a->output, &fd) < 0)
                return EXIT_DAEMON;

        now = now_usec();
        r = ak_rotate_secret(c, id, a->grace_usec, &secret);
        if (r < 0) {
                discard_output(a->output, &fd);
                snprintf(what, sizeof what, "key %s", id);
                return report(c, VERB_ROTATE, a, id, what, r);
        }

        /* As for create: the key's own record has the exact times, but the
         * secret goes out whether or not it can be read. */
        ak_key *k = NULL;
        if (ak_get_key(c, id, &k) >= 0) {
                h.expires_known = true;
                h.expires_at = k->expires_at;
                if (k->rotated_at != 0)
                        now = k->rotated_at;
                active = k->active;
                ak_key_free(k);
        }
        h.grace_until = a->grace_usec > 0 ? now + a->grace_usec : 0;

        h.secret = secret;
        r = deliver_secret(&h, a, &fd);
        ak_secret_free(secret);
        h.secret = NULL;
        if (r < 0) {
                char buf[32];
                fprintf(stderr,
                        PROGRAM ": key %s: the new secret could not be %s and is lost; %s%s%s"
                                "rotate again with '" PROGRAM " rotate %s'\n",
                        id, a->output ? "written" : "printed",
                        h.grace_until ? "the previous secret works until " : "",
                        h.grace_until ? format_time(h.grace_until, buf) : "",
                        h.grace_until ? "; " : "", id);
                return EXIT_DAEMON;
        }
        /* A new secret for a key that does not work is likely a surprise. */
        if (!active)
                fprintf(stderr,
                        PROGRAM ": note: key %s is inactive; logins with it fail until '" PROGRAM
                                " reactivate %s'\n",
                        id, id);
        else if (h.expires_known && h.expires_at != 0 && h.expires_at <= now_usec())
                fprintf(stderr,
                        PROGRAM ": note: key %s has expired; logins with it fail until you "
                                "extend it with '" PROGRAM " update %s --expires 30d'\n",
                        id, id);
        return a->output ? print_receipt(&h, a) : EXIT_OK;
}

/* The key's scopes with --add-scope added and --remove-scope removed, in
 * *ret.  Read, changed and written back in two calls: a change of the
 * scopes by someone else in between is overwritten (the daemon has no
 * compare-and-set). */
static int edit_scopes(ak_client *c, const args *a, const char *id, char ***ret) {
        _cleanup_(strv_freep) char **v = NULL;
        ak_key *k = NULL;
        char what[64];
        int r;

        r = ak_get_key(c, id, &k);
        if (r < 0) {
                snprintf(what, sizeof what, "key %s", id);
                return report(c, VERB_SHOW, a, id, what, r);
        }
        for (char **s = k->scopes; s && *s; s++)
                if (!strv_contains(a->remove_scopes, *s) && strv_push(&v, *s) < 0) {
                        ak_key_free(k);
                        return oom();
                }
        ak_key_free(k);
        for (char **s = a->add_scopes; s && *s; s++)
                if (!strv_contains(v, *s) && strv_push(&v, *s) < 0)
                        return oom();
        /* Removing the last scope leaves an empty list, not "unchanged". */
        if (!v && !(v = calloc(1, sizeof(char *))))
                return oom();
        *ret = TAKE_PTR(v);
        return EXIT_OK;
}

static int cmd_update(ak_client *c, const args *a, char **argv) {
        const char *id = argv[0];
        _cleanup_(strv_freep) char **edited = NULL;
        if (a->add_scopes || a->remove_scopes) {
                int e = edit_scopes(c, a, id, &edited);
                if (e != EXIT_OK)
                        return e;
        }
        ak_update_options opts = {
                .name = a->name,
                .description = a->description,
                .set_expires = a->expires != NULL,
                .expires_at = a->expires_at,
                /* A list given replaces the old one; --clear-* gives the
                 * empty list, which lifts the restriction. */
                .set_services = a->services || (a->seen & OPT_CLEAR_SERVICES),
                .services = (const char *const *) a->services,
                .set_networks = a->networks || (a->seen & OPT_CLEAR_NETWORKS),
                .networks = (const char *const *) a->networks,
                .set_scopes = a->scopes || edited || (a->seen & OPT_CLEAR_SCOPES),
                .scopes = (const char *const *) (edited ? edited : a->scopes),
        };
        char what[64];
        int r;

        r = ak_update_key(c, id, &opts);
        if (r < 0) {
                snprintf(what, sizeof what, "key %s", id);
                return report(c, VERB_UPDATE, a, id, what, r);
        }
        return EXIT_OK;
}

static int set_active(ak_client *c, const args *a, const char *id, bool active) {
        char what[64];
        int r;

        r = active ? ak_reactivate_key(c, id) : ak_deactivate_key(c, id);
        if (r < 0) {
                snprintf(what, sizeof what, "key %s", id);
                return report(c, active ? VERB_REACTIVATE : VERB_DEACTIVATE, a, id, what, r);
        }
        return EXIT_OK;
}

static int cmd_deactivate(ak_client *c, const args *a, char **argv) {
        return set_active(c, a, argv[0], false);
}

static int cmd_reactivate(ak_client *c, const args *a, char **argv) {
        return set_active(c, a, argv[0], true);
}

static int cmd_summary(ak_client *c, const args *a, char **argv) {
        ak_summary s = {};
        char span[48], label[80];
        int r;

        r = ak_get_summary(c, a->within_usec, &s);
        if (r < 0)
                return report(c, VERB_SUMMARY, a, NULL, "counting the keys", r);
        if (s.within == 0)
                s.within = a->within_usec ? a->within_usec : SUMMARY_DEFAULT_WITHIN_USEC;

        if (a->json) {
                json_object *o = json_object_new_object();
                uint64_t within = s.within / USEC_PER_SEC;
                const struct {
                        const char *key;
                        uint64_t v;
                } fields[] = {
                        { "total", s.total },       { "active", s.active },
                        { "inactive", s.inactive }, { "expired", s.expired },
                        { "expiring", s.expiring }, { "within_seconds", within },
                };
                for (size_t i = 0; o && i < ELEMENTSOF(fields); i++) {
                        int64_t v = fields[i].v > INT64_MAX ? INT64_MAX : (int64_t) fields[i].v;
                        if (json_add(o, fields[i].key, json_object_new_int64(v)) < 0) {
                                json_object_put(o);
                                o = NULL;
                        }
                }
                if (!o)
                        return oom();
                json_print(o);
                json_object_put(o);
        } else {
                snprintf(label, sizeof label, "Expiring within %s:", format_span(s.within, span));
                int w = (int) strlen(label) + 2;
                printf("%-*s%" PRIu64 "\n", w, "Total:", s.total);
                printf("%-*s%" PRIu64 "\n", w, "Active:", s.active);
                printf("%-*s%" PRIu64 "\n", w, "Inactive:", s.inactive);
                printf("%-*s%" PRIu64 "\n", w, "Expired:", s.expired);
                printf("%-*s%" PRIu64 "\n", w, label, s.expiring);
        }
        return finish_output() < 0 ? EXIT_DAEMON : EXIT_OK;
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
                return report(c, VERB_LIST, a, NULL, what, r);
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
                return report(c, VERB_SHOW, a, id, what, r);
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
                return report(c, VERB_DELETE, a, id, what, r);
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
                  OPT_SCOPE | OPT_OUTPUT | OPT_FORMAT,
          cmd_create },
        { "list", 0, NULL, OPT_USER | OPT_ALL, cmd_list },
        { "show", 1, "ID", 0, cmd_show },
        { "update", 1, "ID", OPTS_CHANGE, cmd_update },
        { "deactivate", 1, "ID", 0, cmd_deactivate },
        { "reactivate", 1, "ID", 0, cmd_reactivate },
        { "rotate", 1, "ID", OPT_GRACE | OPT_OUTPUT | OPT_FORMAT, cmd_rotate },
        { "summary", 0, NULL, OPT_WITHIN, cmd_summary },
        { "delete", 1, "ID", 0, cmd_delete },
        { "help", 0, NULL, 0, NULL },
};

#define COMMAND_LIST "create, list, show, update, deactivate, reactivate, rotate, summary or delete"

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

static int verify_expires(args *a) {
        int r;

        if (!a->expires)
                return 0;
        r = parse_expiry(a->expires, now_usec(), &a->expires_at);
        if (r == -ERANGE)
                return usage_error("--expires %s: the time must lie in the future and before the "
                                   "year 10000",
                                   a->expires);
        if (r < 0)
                return usage_error("--expires %s: expected 'never', a UTC date YYYY-MM-DD or "
                                   "YYYY-MM-DDTHH:MM:SSZ, or a time from now such as 90d, 2w, 12h "
                                   "or 30m",
                                   a->expires);
        return 0;
}

/* --grace and --within: a span from now. */
static int verify_span(const char *option, const char *s, uint64_t *ret) {
        int r = parse_timespan(s, ret);
        if (r == -ERANGE)
                return usage_error("%s %s: the span must be more than zero and less than 10000 "
                                   "years",
                                   option, s);
        if (r < 0)
                return usage_error("%s %s: expected a number followed by w, d, h, m or s (weeks, "
                                   "days, hours, minutes, seconds), such as 10m or 30d",
                                   option, s);
        return 0;
}

static int verify_args(const command *cmd, args *a, char **argv) {
        unsigned extra = a->seen & ~cmd->options;

        for (size_t i = 0; i < ELEMENTSOF(option_names); i++)
                if (extra & (1U << i))
                        return usage_error("option %s does not apply to '%s'", option_names[i],
                                           cmd->name);

        if (streq(cmd->name, "create") && isempty(a->name))
                return usage_error("'create' needs a name for the key: --name NAME");
        if (streq(cmd->name, "update")) {
                static const struct {
                        unsigned list, clear;
                        const char *name;
                } lists[] = {
                        { OPT_SERVICE, OPT_CLEAR_SERVICES, "service" },
                        { OPT_NETWORK, OPT_CLEAR_NETWORKS, "network" },
                        { OPT_SCOPE, OPT_CLEAR_SCOPES, "scope" },
                };

                if (!(a->seen & OPTS_CHANGE))
                        return usage_error("'update' needs something to change: --name, "
                                           "--description, --expires, --service, --network, "
                                           "--scope, --add-scope, --remove-scope or a --clear-* "
                                           "option");
                if (a->name && isempty(a->name))
                        return usage_error("--name needs a value: a key always has a name");
                for (size_t i = 0; i < ELEMENTSOF(lists); i++)
                        if ((a->seen & lists[i].list) && (a->seen & lists[i].clear))
                                return usage_error("--%1$s and --clear-%1$ss contradict each "
                                                   "other: --%1$s alone replaces the list",
                                                   lists[i].name);
                if ((a->seen & (OPT_ADD_SCOPE | OPT_REMOVE_SCOPE)) &&
                    (a->seen & (OPT_SCOPE | OPT_CLEAR_SCOPES)))
                        return usage_error("--add-scope and --remove-scope change the key's "
                                           "scopes, --scope and --clear-scopes replace them: "
                                           "give one kind or the other");
                for (char **s = a->add_scopes; s && *s; s++)
                        if (strv_contains(a->remove_scopes, *s))
                                return usage_error("--add-scope %1$s and --remove-scope %1$s "
                                                   "contradict each other",
                                                   *s);
        }
        if (verify_expires(a) != 0)
                return EXIT_USAGE;
        if (a->grace && verify_span("--grace", a->grace, &a->grace_usec) != 0)
                return EXIT_USAGE;
        if (a->within && verify_span("--within", a->within, &a->within_usec) != 0)
                return EXIT_USAGE;
        if (streq(cmd->name, "list") && a->user && a->all)
                return usage_error("'list' takes either --user USER or --all, not both");

        /* --format says what the secret is handed over as; --json what
         * stdout holds.  Without --output both are about stdout. */
        if (!(a->seen & OPT_FORMAT))
                a->format = a->json ? FORMAT_JSON : FORMAT_TEXT;
        else if (a->json && !a->output && a->format != FORMAT_JSON)
                return usage_error("--json and --format %s both say what to print; give one, or "
                                   "--output FILE to write the secret as %s",
                                   format_names[a->format], format_names[a->format]);

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
        ARG_CLEAR_SERVICES,
        ARG_CLEAR_NETWORKS,
        ARG_CLEAR_SCOPES,
        ARG_GRACE,
        ARG_WITHIN,
        ARG_OUTPUT,
        ARG_FORMAT,
        ARG_ADD_SCOPE,
        ARG_REMOVE_SCOPE,
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
                { "clear-services", no_argument, NULL, ARG_CLEAR_SERVICES },
                { "clear-networks", no_argument, NULL, ARG_CLEAR_NETWORKS },
                { "clear-scopes", no_argument, NULL, ARG_CLEAR_SCOPES },
                { "grace", required_argument, NULL, ARG_GRACE },
                { "within", required_argument, NULL, ARG_WITHIN },
                { "output", required_argument, NULL, ARG_OUTPUT },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "add-scope", required_argument, NULL, ARG_ADD_SCOPE },
                { "remove-scope", required_argument, NULL, ARG_REMOVE_SCOPE },
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
                case ARG_ADD_SCOPE:
                case ARG_REMOVE_SCOPE:
                        a->seen |= c == ARG_ADD_SCOPE ? OPT_ADD_SCOPE : OPT_REMOVE_SCOPE;
                        if (isempty(optarg))
                                return usage_error("%s needs a value", argv[optind - 1]);
                        if (strv_push(c == ARG_ADD_SCOPE ? &a->add_scopes : &a->remove_scopes,
                                      optarg) < 0)
                                return oom();
                        break;
                case ARG_ALL:
                        a->seen |= OPT_ALL;
                        a->all = true;
                        break;
                case ARG_CLEAR_SERVICES:
                        a->seen |= OPT_CLEAR_SERVICES;
                        break;
                case ARG_CLEAR_NETWORKS:
                        a->seen |= OPT_CLEAR_NETWORKS;
                        break;
                case ARG_CLEAR_SCOPES:
                        a->seen |= OPT_CLEAR_SCOPES;
                        break;
                case ARG_GRACE:
                        a->seen |= OPT_GRACE;
                        a->grace = optarg;
                        break;
                case ARG_WITHIN:
                        a->seen |= OPT_WITHIN;
                        a->within = optarg;
                        break;
                case ARG_OUTPUT:
                        if (isempty(optarg))
                                return usage_error("--output needs the path of a new file");
                        a->seen |= OPT_OUTPUT;
                        a->output = optarg;
                        break;
                case ARG_FORMAT: {
                        size_t i = 0;
                        while (i < ELEMENTSOF(format_names) && !streq(format_names[i], optarg))
                                i++;
                        if (i == ELEMENTSOF(format_names)) {
                                _cleanup_(freep) char *shown = quote_arg(optarg);
                                return usage_error("--format %s: expected text, csv, env or json",
                                                   shown ? shown : "");
                        }
                        a->seen |= OPT_FORMAT;
                        a->format = (output_format) i;
                        break;
                }
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
                r = usage_error("no command given: use " COMMAND_LIST);
                goto out;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(commands[i].name, argv[optind]))
                        cmd = &commands[i];
        if (!cmd) {
                _cleanup_(freep) char *shown = quote_arg(argv[optind]);
                r = usage_error("unknown command '%s': use " COMMAND_LIST, shown ? shown : "");
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
