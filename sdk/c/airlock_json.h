/*
 * A strict JSON reader and a JSON writer for the C SDK (airlock.h), used
 * by the bindings "airlock gen --lang c" writes; plugins may use them too.
 * Build it beside airlock.c:
 *
 *   clang --target=wasm32-wasi ... plugin.c contract.c airlock.c airlock_json.c
 *
 * The reader follows RFC 8259: one value and nothing after it, no trailing
 * commas, no leading zeros, control characters escaped, \u escapes decoded
 * to UTF-8 (surrogates only in pairs), at most AIRLOCK_JSON_MAX_DEPTH
 * nested arrays and objects. A string holding "\u0000" is refused: C
 * strings end at the first NUL.
 */
#ifndef AIRLOCK_JSON_H
#define AIRLOCK_JSON_H

#include <stddef.h>

#define AIRLOCK_JSON_MAX_DEPTH 128

typedef enum {
    AIRLOCK_JSON_NULL,
    AIRLOCK_JSON_BOOL,
    AIRLOCK_JSON_NUMBER,
    AIRLOCK_JSON_STRING,
    AIRLOCK_JSON_ARRAY,
    AIRLOCK_JSON_OBJECT
} airlock_json_kind;

/* One JSON value. An array's items and an object's members are in items
 * (count of them); an object's member names are in keys, in the order of
 * the text. */
typedef struct airlock_json {
    airlock_json_kind kind;
    int boolean;                 /* BOOL: 0 or 1 */
    double number;               /* NUMBER */
    long long integer;           /* NUMBER, when is_integer */
    int is_integer;              /* NUMBER: an integer that fits a long long */
    char *string;                /* STRING: UTF-8, NUL-terminated */
    size_t count;                /* ARRAY, OBJECT */
    struct airlock_json *items;  /* ARRAY, OBJECT */
    char **keys;                 /* OBJECT */
} airlock_json;

/* airlock_json_parse parses text. It returns the value (free it with
 * airlock_json_free), or NULL with a message in err (cut to size). */
airlock_json *airlock_json_parse(const char *text, char *err, size_t size);

/* airlock_json_free frees a value airlock_json_parse returned. */
void airlock_json_free(airlock_json *v);

/* airlock_json_get returns the member key of object v, or NULL (also when
 * v is not an object). */
const airlock_json *airlock_json_get(const airlock_json *v, const char *key);

/* airlock_json_kind_name names a kind: "null", "boolean", "number",
 * "string", "array", "object". */
const char *airlock_json_kind_name(airlock_json_kind k);

/* A growing buffer of JSON text. Start with {0}; take data (NUL-terminated,
 * malloc'ed) when done. failed is set when memory ran out. */
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} airlock_json_buf;

/* Append raw text (JSON already). */
void airlock_json_raw(airlock_json_buf *b, const char *s);
/* Append s as a JSON string, quotes included; NULL is null. */
void airlock_json_string_value(airlock_json_buf *b, const char *s);
/* Append a number; NaN and infinities are null (JSON has none). */
void airlock_json_number(airlock_json_buf *b, double d);
/* Append an integer. */
void airlock_json_integer(airlock_json_buf *b, long long n);
/* Append a value airlock_json_parse returned. */
void airlock_json_write(airlock_json_buf *b, const airlock_json *v);

#endif
