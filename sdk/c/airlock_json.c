/*
 * A strict JSON reader and a JSON writer for the C SDK: see airlock_json.h.
 * The reader is what stands between a plugin and the text its host sends:
 * it never reads past the text, recursion is bounded, and every
 * allocation is checked.
 */
#include "airlock_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;
    char *err;
    size_t size;
    int failed;
} reader;

static void fail(reader *r, const char *msg) {
    if (!r->failed && r->size > 0) snprintf(r->err, r->size, "%s", msg);
    r->failed = 1;
}

static void skip_ws(reader *r) {
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r') r->p++;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, unsigned c) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | (c >> 6)); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12)); out[1] = (char)(0x80 | ((c >> 6) & 0x3F)); out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18)); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* utf8_len returns the length of the UTF-8 sequence at p, or 0 if it is
 * not valid (overlong forms, surrogates and values past U+10FFFF too). */
static size_t utf8_len(const unsigned char *p) {
    if (p[0] < 0x80) return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) return (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (p[0] == 0xE0 && p[1] < 0xA0) return 0;
        if (p[0] == 0xED && p[1] >= 0xA0) return 0;
        return 3;
    }
    if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        if ((p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (p[0] == 0xF0 && p[1] < 0x90) return 0;
        if (p[0] == 0xF4 && p[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

/* read_string reads the string at r->p (a quote) into a new buffer. */
static char *read_string(reader *r) {
    const char *start = ++r->p;
    size_t n = 0;
    /* The decoded text is never longer than the escaped text. */
    while (*r->p && *r->p != '"') {
        if (*r->p == '\\' && r->p[1]) r->p++;
        r->p++;
        n++;
    }
    if (*r->p != '"') { fail(r, "unterminated string"); return NULL; }
    size_t raw_len = (size_t)(r->p - start);
    char *out = malloc(raw_len + 1);
    if (!out) { fail(r, "out of memory"); return NULL; }
    (void)n;
    const char *p = start;
    size_t o = 0;
    while (p < r->p) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) { fail(r, "control character in a string"); break; }
        if (c != '\\') {
            size_t l = utf8_len((const unsigned char *)p);
            if (l == 0 || p + l > r->p) { fail(r, "a string is not UTF-8"); break; }
            memcpy(out + o, p, l);
            o += l, p += l;
            continue;
        }
        p++;
        switch (*p) {
        case '"': out[o++] = '"'; p++; break;
        case '\\': out[o++] = '\\'; p++; break;
        case '/': out[o++] = '/'; p++; break;
        case 'b': out[o++] = '\b'; p++; break;
        case 'f': out[o++] = '\f'; p++; break;
        case 'n': out[o++] = '\n'; p++; break;
        case 'r': out[o++] = '\r'; p++; break;
        case 't': out[o++] = '\t'; p++; break;
        case 'u': {
            unsigned c1, c2;
            if (p + 5 > r->p || hex4(p + 1, &c1) != 0) { fail(r, "bad \\u escape"); goto done; }
            p += 5;
            if (c1 >= 0xD800 && c1 <= 0xDBFF) {
                if (p + 6 > r->p || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &c2) != 0 || c2 < 0xDC00 || c2 > 0xDFFF) {
                    fail(r, "a lone surrogate in a \\u escape");
                    goto done;
                }
                p += 6;
                c1 = 0x10000 + ((c1 - 0xD800) << 10) + (c2 - 0xDC00);
            } else if (c1 >= 0xDC00 && c1 <= 0xDFFF) {
                fail(r, "a lone surrogate in a \\u escape");
                goto done;
            } else if (c1 == 0) {
                fail(r, "\\u0000 in a string");
                goto done;
            }
            o += put_utf8(out + o, c1);
            break;
        }
        default:
            fail(r, "bad escape in a string");
            goto done;
        }
    }
done:
    if (r->failed) { free(out); return NULL; }
    out[o] = 0;
    r->p++;
    return out;
}

static int read_value(reader *r, airlock_json *v, int depth);

static int read_number(reader *r, airlock_json *v) {
    const char *start = r->p;
    int integral = 1;
    if (*r->p == '-') r->p++;
    if (*r->p == '0') {
        r->p++;
    } else if (*r->p >= '1' && *r->p <= '9') {
        while (*r->p >= '0' && *r->p <= '9') r->p++;
    } else {
        fail(r, "bad number");
        return -1;
    }
    if (*r->p == '.') {
        integral = 0;
        r->p++;
        if (!(*r->p >= '0' && *r->p <= '9')) { fail(r, "bad number"); return -1; }
        while (*r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (*r->p == 'e' || *r->p == 'E') {
        integral = 0;
        r->p++;
        if (*r->p == '+' || *r->p == '-') r->p++;
        if (!(*r->p >= '0' && *r->p <= '9')) { fail(r, "bad number"); return -1; }
        while (*r->p >= '0' && *r->p <= '9') r->p++;
    }
    size_t n = (size_t)(r->p - start);
    char buf[512];
    if (n >= sizeof buf) { fail(r, "number too long"); return -1; }
    memcpy(buf, start, n);
    buf[n] = 0;
    v->kind = AIRLOCK_JSON_NUMBER;
    v->number = strtod(buf, NULL);
    if (isinf(v->number)) { fail(r, "number out of range"); return -1; }
    if (integral) {
        /* By hand, with overflow checked: errno is thread-local, which the
         * wasm32-wasi reactor build does not support. */
        const char *d = buf + (buf[0] == '-');
        unsigned long long u = 0, limit = buf[0] == '-' ? 9223372036854775808ULL : 9223372036854775807ULL;
        int fits = 1;
        for (; *d; d++) {
            unsigned digit = (unsigned)(*d - '0');
            if (u > (limit - digit) / 10) { fits = 0; break; }
            u = u * 10 + digit;
        }
        if (fits) {
            v->integer = buf[0] == '-' ? (long long)(0 - u) : (long long)u;
            v->is_integer = 1;
        }
    } else if (v->number == floor(v->number) && fabs(v->number) < 9007199254740992.0) {
        v->integer = (long long)v->number, v->is_integer = 1;
    }
    return 0;
}

static int append(reader *r, airlock_json *v, size_t *cap) {
    if (v->count == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        airlock_json *items = realloc(v->items, c * sizeof *items);
        if (!items) { fail(r, "out of memory"); return -1; }
        v->items = items;
        if (v->kind == AIRLOCK_JSON_OBJECT) {
            char **keys = realloc(v->keys, c * sizeof *keys);
            if (!keys) { fail(r, "out of memory"); return -1; }
            v->keys = keys;
        }
        *cap = c;
    }
    memset(&v->items[v->count], 0, sizeof v->items[0]);
    return 0;
}

static int read_container(reader *r, airlock_json *v, int depth) {
    int object = *r->p == '{';
    char close = object ? '}' : ']';
    size_t cap = 0;
    v->kind = object ? AIRLOCK_JSON_OBJECT : AIRLOCK_JSON_ARRAY;
    if (depth >= AIRLOCK_JSON_MAX_DEPTH) { fail(r, "nested too deeply"); return -1; }
    r->p++;
    skip_ws(r);
    if (*r->p == close) { r->p++; return 0; }
    for (;;) {
        skip_ws(r);
        if (append(r, v, &cap) != 0) return -1;
        if (object) {
            if (*r->p != '"') { fail(r, "want a member name"); return -1; }
            char *key = read_string(r);
            if (!key) return -1;
            for (size_t i = 0; i < v->count; i++) {
                if (strcmp(v->keys[i], key) == 0) {
                    free(key);
                    fail(r, "a member name twice in an object");
                    return -1;
                }
            }
            v->keys[v->count] = key;
            skip_ws(r);
            if (*r->p != ':') { v->count++; fail(r, "want ':'"); return -1; }
            r->p++;
        }
        int rc = read_value(r, &v->items[v->count], depth + 1);
        v->count++;
        if (rc != 0) return -1;
        skip_ws(r);
        if (*r->p == ',') { r->p++; continue; }
        if (*r->p == close) { r->p++; return 0; }
        fail(r, object ? "want ',' or '}'" : "want ',' or ']'");
        return -1;
    }
}

static int read_value(reader *r, airlock_json *v, int depth) {
    skip_ws(r);
    switch (*r->p) {
    case '{':
    case '[':
        return read_container(r, v, depth);
    case '"':
        v->kind = AIRLOCK_JSON_STRING;
        v->string = read_string(r);
        return v->string ? 0 : -1;
    case 't':
        if (strncmp(r->p, "true", 4) == 0) { v->kind = AIRLOCK_JSON_BOOL, v->boolean = 1, r->p += 4; return 0; }
        break;
    case 'f':
        if (strncmp(r->p, "false", 5) == 0) { v->kind = AIRLOCK_JSON_BOOL, v->boolean = 0, r->p += 5; return 0; }
        break;
    case 'n':
        if (strncmp(r->p, "null", 4) == 0) { v->kind = AIRLOCK_JSON_NULL, r->p += 4; return 0; }
        break;
    default:
        if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) return read_number(r, v);
    }
    fail(r, "not a JSON value");
    return -1;
}

static void free_value(airlock_json *v) {
    free(v->string);
    for (size_t i = 0; i < v->count; i++) {
        free_value(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

airlock_json *airlock_json_parse(const char *text, char *err, size_t size) {
    reader r = {text ? text : "null", err, size, 0};
    airlock_json *v = calloc(1, sizeof *v);
    if (!v) { fail(&r, "out of memory"); return NULL; }
    if (read_value(&r, v, 0) == 0) {
        skip_ws(&r);
        if (*r.p) fail(&r, "text after the JSON value");
    }
    if (r.failed) {
        airlock_json_free(v);
        return NULL;
    }
    return v;
}

void airlock_json_free(airlock_json *v) {
    if (!v) return;
    free_value(v);
    free(v);
}

const airlock_json *airlock_json_get(const airlock_json *v, const char *key) {
    if (!v || v->kind != AIRLOCK_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->count; i++) {
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    }
    return NULL;
}

const char *airlock_json_kind_name(airlock_json_kind k) {
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return k <= AIRLOCK_JSON_OBJECT ? names[k] : "?";
}

static void put(airlock_json_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (b->len + n + 1 > c) c *= 2;
        char *d = realloc(b->data, c);
        if (!d) { b->failed = 1; return; }
        b->data = d, b->cap = c;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void airlock_json_raw(airlock_json_buf *b, const char *s) { put(b, s, strlen(s)); }

void airlock_json_string_value(airlock_json_buf *b, const char *s) {
    if (!s) { put(b, "null", 4); return; }
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

void airlock_json_number(airlock_json_buf *b, double d) {
    char buf[32];
    if (isnan(d) || isinf(d)) { put(b, "null", 4); return; }
    snprintf(buf, sizeof buf, "%.17g", d);
    put(b, buf, strlen(buf));
}

void airlock_json_integer(airlock_json_buf *b, long long n) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", n);
    put(b, buf, strlen(buf));
}

void airlock_json_write(airlock_json_buf *b, const airlock_json *v) {
    switch (v->kind) {
    case AIRLOCK_JSON_NULL: put(b, "null", 4); break;
    case AIRLOCK_JSON_BOOL: airlock_json_raw(b, v->boolean ? "true" : "false"); break;
    case AIRLOCK_JSON_NUMBER:
        if (v->is_integer) airlock_json_integer(b, v->integer);
        else airlock_json_number(b, v->number);
        break;
    case AIRLOCK_JSON_STRING: airlock_json_string_value(b, v->string); break;
    case AIRLOCK_JSON_ARRAY:
    case AIRLOCK_JSON_OBJECT:
        put(b, v->kind == AIRLOCK_JSON_ARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < v->count; i++) {
            if (i) put(b, ",", 1);
            if (v->kind == AIRLOCK_JSON_OBJECT) {
                airlock_json_string_value(b, v->keys[i]);
                put(b, ":", 1);
            }
            airlock_json_write(b, &v->items[i]);
        }
        put(b, v->kind == AIRLOCK_JSON_ARRAY ? "]" : "}", 1);
        break;
    }
}
