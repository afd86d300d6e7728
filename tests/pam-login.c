/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pam-login — a pamtester-like driver over pam_start_confdir(), so a stack
 * can be tried from a private directory without touching /etc/pam.d.
 *
 *   pam-login --confdir DIR --service NAME --user USER [--rhost H] [--tty T]
 *             [--password-fd N | --password-stdin] [--session]
 *
 * Runs pam_authenticate() and, when it succeeds, pam_acct_mgmt() and with
 * --session pam_setcred(), pam_open_session() and pam_close_session(); prints
 * each result, the messages the modules sent, the user a module logged in
 * instead of USER (keyid_user) and the ACCESSKEY_* variables of the PAM
 * environment.  Exits 0 on success, the failing PAM code otherwise, 64 on a
 * usage error, 65 when the password holds a NUL byte and 70 when PAM cannot
 * be started or the password read.
 *
 * A PAM conversation hands a password over as a C string, so a module never
 * sees what follows a NUL: pamtester (libpam_misc's misc_conv) and this tool
 * before it refused them passed "ID:SECRET\0anything" on as "ID:SECRET".
 * A password with a NUL inside is not the one the user meant; it is refused.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define EXIT_USAGE 64
#define EXIT_DATAERR 65
#define EXIT_INTERNAL 70
/* Large enough for tests that feed oversized passwords. */
#define PASSWORD_MAX (1024 * 1024)

static int conversation(int n, const struct pam_message **msg, struct pam_response **ret,
                        void *userdata) {
        const char *password = userdata;
        struct pam_response *resp;

        if (n <= 0 || n > PAM_MAX_NUM_MSG)
                return PAM_CONV_ERR;
        resp = calloc((size_t) n, sizeof(*resp));
        if (!resp)
                return PAM_BUF_ERR;

        for (int i = 0; i < n; i++) {
                switch (msg[i]->msg_style) {
                case PAM_PROMPT_ECHO_OFF:
                        resp[i].resp = strdup(password);
                        if (!resp[i].resp)
                                goto fail;
                        break;
                case PAM_TEXT_INFO:
                        printf("PAM_TEXT_INFO: %s\n", msg[i]->msg);
                        break;
                case PAM_ERROR_MSG:
                        printf("PAM_ERROR_MSG: %s\n", msg[i]->msg);
                        break;
                default:
                        /* The user is given on the command line; nothing
                         * else is ever asked with echo on. */
                        fprintf(stderr, "pam-login: unexpected prompt '%s'\n", msg[i]->msg);
                        goto fail;
                }
        }
        fflush(stdout);
        *ret = resp;
        return PAM_SUCCESS;

fail:
        for (int i = 0; i < n; i++)
                if (resp[i].resp) {
                        explicit_bzero(resp[i].resp, strlen(resp[i].resp));
                        free(resp[i].resp);
                }
        free(resp);
        return PAM_CONV_ERR;
}

/* Reads one line from fd, newline stripped.  Returns a malloc'd string or
 * NULL with errno set: EILSEQ when the line holds a NUL byte, whose offset
 * is then *ret_nul. */
static char *read_password(int fd, size_t *ret_nul) {
        char *buf = malloc(PASSWORD_MAX + 1);
        size_t len = 0;

        if (!buf)
                return NULL;
        while (len < PASSWORD_MAX) {
                ssize_t k = read(fd, buf + len, 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        explicit_bzero(buf, len);
                        free(buf);
                        errno = e;
                        return NULL;
                }
                if (k == 0 || buf[len] == '\n')
                        break;
                if (buf[len] == 0) {
                        explicit_bzero(buf, len);
                        free(buf);
                        *ret_nul = len;
                        errno = EILSEQ;
                        return NULL;
                }
                len++;
        }
        buf[len] = 0;
        return buf;
}

static void usage(FILE *f) {
        fputs("usage: pam-login --confdir DIR --service NAME --user USER [--rhost HOST] [--tty TTY]\n"
              "                 [--password-fd N | --password-stdin] [--session]\n"
              "Runs pam_authenticate() and pam_acct_mgmt() on the stack DIR/NAME, and with\n"
              "--session pam_setcred(), pam_open_session() and pam_close_session(); the password\n"
              "is one line read from stdin (default) or from file descriptor N.\n",
              f);
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "confdir", required_argument, NULL, 'c' },
                { "service", required_argument, NULL, 's' },
                { "user", required_argument, NULL, 'u' },
                { "rhost", required_argument, NULL, 'r' },
                { "tty", required_argument, NULL, 't' },
                { "password-fd", required_argument, NULL, 'f' },
                { "password-stdin", no_argument, NULL, 'i' },
                { "session", no_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *confdir = NULL, *service = NULL, *user = NULL, *rhost = NULL, *tty = NULL;
        int fd = STDIN_FILENO, c;
        bool session = false;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        confdir = optarg;
                        break;
                case 's':
                        service = optarg;
                        break;
                case 'u':
                        user = optarg;
                        break;
                case 'r':
                        rhost = optarg;
                        break;
                case 't':
                        tty = optarg;
                        break;
                case 'f': {
                        char *end = NULL;
                        long v = strtol(optarg, &end, 10);
                        if (!*optarg || *end || v < 0 || v > INT_MAX) {
                                fprintf(stderr,
                                        "pam-login: --password-fd: '%s' is not a file descriptor\n",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        fd = (int) v;
                        break;
                }
                case 'i':
                        fd = STDIN_FILENO;
                        break;
                case 'S':
                        session = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (optind != argc || !confdir || !service || !user) {
                usage(stderr);
                return EXIT_USAGE;
        }

        size_t nul = 0;
        char *password = read_password(fd, &nul);
        if (!password && errno == EILSEQ) {
                fprintf(stderr,
                        "pam-login: the password read from fd %d holds a NUL byte (at byte %zu); "
                        "PAM passes passwords as C strings and would cut it there, so it is "
                        "refused: give the password without NUL bytes\n",
                        fd, nul + 1);
                return EXIT_DATAERR;
        }
        if (!password) {
                fprintf(stderr, "pam-login: cannot read the password from fd %d: %s\n", fd,
                        strerror(errno));
                return EXIT_INTERNAL;
        }

        struct pam_conv conv = { conversation, password };
        pam_handle_t *pamh = NULL;
        int r = pam_start_confdir(service, user, &conv, confdir, &pamh);
        if (r != PAM_SUCCESS) {
                fprintf(stderr, "pam-login: pam_start_confdir(%s, %s): %s\n", service, confdir,
                        pam_strerror(pamh, r));
                explicit_bzero(password, strlen(password));
                free(password);
                return EXIT_INTERNAL;
        }
        if (rhost)
                r = pam_set_item(pamh, PAM_RHOST, rhost);
        if (r == PAM_SUCCESS && tty)
                r = pam_set_item(pamh, PAM_TTY, tty);
        if (r != PAM_SUCCESS) {
                fprintf(stderr, "pam-login: pam_set_item: %s\n", pam_strerror(pamh, r));
                goto finish;
        }

        r = pam_authenticate(pamh, 0);
        printf("pam_authenticate: %s\n", pam_strerror(pamh, r));
        if (r == PAM_SUCCESS) {
                /* A module may log in someone else than asked (keyid_user). */
                const void *item = NULL;
                if (pam_get_item(pamh, PAM_USER, &item) == PAM_SUCCESS && item &&
                    strcmp(item, user) != 0)
                        printf("PAM_USER: %s\n", (const char *) item);
                r = pam_acct_mgmt(pamh, 0);
                printf("pam_acct_mgmt: %s\n", pam_strerror(pamh, r));
        }
        if (r == PAM_SUCCESS && session) {
                r = pam_setcred(pamh, PAM_ESTABLISH_CRED);
                printf("pam_setcred: %s\n", pam_strerror(pamh, r));
                if (r == PAM_SUCCESS) {
                        r = pam_open_session(pamh, 0);
                        printf("pam_open_session: %s\n", pam_strerror(pamh, r));
                }
                if (r == PAM_SUCCESS) {
                        r = pam_close_session(pamh, 0);
                        printf("pam_close_session: %s\n", pam_strerror(pamh, r));
                }
        }

        char **env = pam_getenvlist(pamh);
        for (char **e = env; e && *e; e++) {
                if (strncmp(*e, "ACCESSKEY_", 10) == 0)
                        printf("%s\n", *e);
                free(*e);
        }
        free(env);

finish:
        pam_end(pamh, r);
        explicit_bzero(password, strlen(password));
        free(password);
        fflush(stdout);
        return r;
}
