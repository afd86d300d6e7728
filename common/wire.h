/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The D-Bus wire format (the specification's "Message Protocol") for the
 * login path: Authenticate's request and reply, built and read straight
 * from bytes.
 *
 * libdbus spends most of a login's CPU in its message machinery (a DBusMessage,
 * its iterators, locks and a validation pass per container); the login path
 * has one fixed signature, so it is written and read here directly.  The
 * reader is strict and partial: it accepts only what it fully checks
 * (messages in this host's byte order, the nine header fields of the
 * specification with their proper types, the basic types and string
 * arrays of Authenticate's dictionaries) and says -EBADMSG for everything
 * else, which the daemon then hands to libdbus (dbus_message_demarshal)
 * exactly as before.  So a message the reader refuses loses nothing, and
 * one it accepts is one libdbus accepts too (fuzz/fuzz-wire.c checks this).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dict.h"

#define WIRE_METHOD_CALL 1
#define WIRE_METHOD_RETURN 2
#define WIRE_ERROR 3
#define WIRE_SIGNAL 4

#define WIRE_FLAG_NO_REPLY_EXPECTED 0x1
#define WIRE_FLAG_NO_AUTO_START 0x2

/* The fixed part of a header, and the specification's limit on a message. */
#define WIRE_HEADER_MIN 16
#define WIRE_MESSAGE_MAX (128u * 1024 * 1024)

/* A message's header; strings point into the message (reading) or are the
 * caller's (writing), NULL when absent. */
typedef struct wire_header {
        uint8_t type, flags;
        uint32_t serial, reply_serial;
        const char *path, *interface, *member, *error_name, *destination, *sender, *signature;
} wire_header;

/* A growing buffer that marshals in this host's byte order.  Failures are
 * sticky: check error once at the end.  Freeing wipes it (a request holds
 * a secret). */
typedef struct wire_writer {
        uint8_t *buf;
        size_t len, cap;
        int error; /* 0, -ENOMEM, or -EINVAL for a string that may not go on the wire */
} wire_writer;

void wire_writer_done(wire_writer *w);

void wire_put_u8(wire_writer *w, uint8_t v);
void wire_put_u32(wire_writer *w, uint32_t v);
void wire_put_u64(wire_writer *w, uint64_t v);
void wire_put_bool(wire_writer *w, bool v);
void wire_put_string(wire_writer *w, const char *s); /* also 'o' */
void wire_put_signature(wire_writer *w, const char *s);
/* An array: open notes where its length goes, close fills it in. */
typedef struct wire_array {
        size_t length_at, start;
} wire_array;
void wire_open_array(wire_writer *w, size_t element_alignment, wire_array *ret);
void wire_close_array(wire_writer *w, const wire_array *a);

/* The a{sv} of fields (see dict.h for what dest points to); a NULL string
 * is written as "" and a NULL array as an empty one. */
void wire_put_dict(wire_writer *w, const dict_field *fields, size_t n_fields);

/* A whole message: h's header, then the body built in body (which may be
 * NULL for none).  *ret is malloc'ed; wipe it when it held a secret. */
int wire_message(const wire_header *h, const wire_writer *body, uint8_t **ret, size_t *ret_len);

/* Reading. */
typedef struct wire_reader {
        const uint8_t *buf;
        size_t len, pos;
} wire_reader;

/* Parses a whole message of exactly len bytes: 0 with *h and the body in
 * *ret_body; -EBADMSG for one this reader does not take (malformed, or
 * merely beyond it: the other byte order, unknown header fields, passed
 * descriptors). */
int wire_parse(const uint8_t *buf, size_t len, wire_header *h, wire_reader *ret_body);

int wire_get_u32(wire_reader *r, uint32_t *ret);
int wire_get_u64(wire_reader *r, uint64_t *ret);
int wire_get_bool(wire_reader *r, bool *ret);
/* A string (or object path): valid UTF-8 without NUL, pointing into the
 * message. */
int wire_get_string(wire_reader *r, const char **ret);
int wire_get_signature(wire_reader *r, const char **ret);
/* Enters an array: *ret_end is where it ends. */
int wire_enter_array(wire_reader *r, size_t element_alignment, size_t *ret_end);
/* Whether the body has been read to its end. */
bool wire_at_end(const wire_reader *r);

/* Reads an a{sv} into fields with dict_read()'s rules and messages: 0,
 * -EINVAL with *ret_bad_key / *ret_reason, -ENOMEM, or -EBADMSG for a
 * dictionary this reader does not take (then nothing is known about the
 * fields: the caller falls back to libdbus). */
int wire_get_dict(wire_reader *r, const dict_field *fields, size_t n_fields, bool strict,
                  const char **ret_bad_key, const char **ret_reason);
