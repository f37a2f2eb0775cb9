/*
 * Airlock plugin SDK for C: the wasm tier's exports and imports
 * (docs/ABI.md), a little JSON, and the host calls. See airlock.h.
 */
#include "airlock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("airlock"), import_name(name)))

IMPORT("host_call") uint32_t airlock_import_host_call(const char *fn, uint32_t fn_len, const char *in, uint32_t in_len);
IMPORT("host_result") void airlock_import_host_result(char *buf);

/* ---- a small JSON scanner: enough to find members and skip values ---- */

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* skip_string returns the character after the string starting at p (a
 * quote), or NULL. */
static const char *skip_string(const char *p) {
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!*++p) return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/* skip_value returns the character after the JSON value at p, or NULL. */
static const char *skip_value(const char *p) {
    p = skip_ws(p);
    if (*p == '"') return skip_string(p);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (*p) {
            if (*p == '"') {
                p = skip_string(p);
                if (!p) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') p++;
    return p;
}

/* find_member returns the start of the value of member key of the object
 * at json, and its length in *len, or NULL. */
static const char *find_member(const char *json, const char *key, size_t *len) {
    const char *p = skip_ws(json);
    if (!p || *p != '{') return NULL;
    p = skip_ws(p + 1);
    size_t klen = strlen(key);
    while (*p == '"') {
        const char *kend = skip_string(p);
        if (!kend) return NULL;
        int match = (size_t)(kend - p - 2) == klen && strncmp(p + 1, key, klen) == 0;
        p = skip_ws(kend);
        if (*p != ':') return NULL;
        const char *v = skip_ws(p + 1);
        const char *vend = skip_value(v);
        if (!vend) return NULL;
        if (match) {
            *len = (size_t)(vend - v);
            return v;
        }
        p = skip_ws(vend);
        if (*p != ',') return NULL;
        p = skip_ws(p + 1);
    }
    return NULL;
}

/* unescape copies the JSON string at s (a quote) into buf. It keeps
 * \uXXXX escapes as they are, which is enough for the plugins this SDK is
 * for. */
static int unescape(const char *s, char *buf, size_t size) {
    size_t n = 0;
    for (s++; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            switch (*++s) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 0: return -1;
            default: c = *s;
            }
        }
        if (n + 1 < size) buf[n] = c;
        n++;
    }
    if (size > 0) buf[n < size ? n : size - 1] = 0;
    return (int)n;
}

int airlock_json_string(const char *json, const char *key, char *buf, size_t size) {
    size_t len;
    const char *v = find_member(json, key, &len);
    if (!v || *v != '"') return -1;
    return unescape(v, buf, size);
}

char *airlock_json_quote(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(n * 6 + 3), *q = out;
    if (!out) return NULL;
    *q++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *q++ = '\\';
            *q++ = (char)c;
        } else if (c < 0x20) {
            q += sprintf(q, "\\u%04x", c);
        } else {
            *q++ = (char)c;
        }
    }
    *q++ = '"';
    *q = 0;
    return out;
}

/* ---- the exports ---- */

static char *config_json; /* the settings from initialize */
static char *result_json; /* the current call's outcome */
static size_t result_len;
static int error_code;
static char *error_message;
/* The current call's W3C trace context (docs/ABI.md), "" when untraced. */
static char call_traceparent[56];
static char call_tracestate[513];

EXPORT("airlock_protocol") uint32_t airlock_protocol(void) { return 1; }

/* One byte more than asked for: take terminates the host's input in
 * place, without a copy. */
EXPORT("airlock_alloc") void *airlock_alloc(uint32_t size) {
    if (size == UINT32_MAX) return NULL; /* size + 1 would wrap on wasm32 */
    return malloc((size_t)size + 1);
}

EXPORT("airlock_free") void airlock_free(void *ptr, uint32_t size) {
    (void)size;
    free(ptr);
}

static char *copy(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, s, n);
        out[n] = 0;
    }
    return out;
}

/* take turns the input the host placed in memory (len bytes in a buffer
 * of airlock_alloc's, which has room for one more) into a NUL-terminated
 * string, in place; the caller frees it. */
static char *take(char *ptr, uint32_t len) {
    ptr[len] = 0;
    return ptr;
}

/* answer_len packs an envelope of n bytes for the host: pointer in the
 * high 32 bits, length in the low. */
static uint64_t answer_len(char *envelope, size_t n) {
    return ((uint64_t)(uintptr_t)envelope << 32) | (uint64_t)n;
}

static uint64_t answer(char *envelope) { return answer_len(envelope, strlen(envelope)); }

static uint64_t answer_error(int code, const char *message) {
    char *quoted = airlock_json_quote(message);
    size_t n = strlen(quoted) + 64;
    char *env = malloc(n);
    snprintf(env, n, "{\"error\":{\"code\":%d,\"message\":%s}}", code, quoted);
    free(quoted);
    return answer(env);
}

EXPORT("airlock_init") uint64_t airlock_init(char *ptr, uint32_t len) {
    char *in = take(ptr, len);
    size_t n;
    const char *cfg = find_member(in, "config", &n);
    free(config_json);
    config_json = cfg ? copy(cfg, n) : copy("{}", 2);
    const char *protocols = find_member(in, "protocols", &n);
    int speaks = protocols && memchr(protocols, '1', n) != NULL;
    free(in);
    if (!speaks) return answer_error(AIRLOCK_FAILED, "plugin speaks protocol 1 only");

    size_t size = 128 + strlen(airlock_plugin_name) + strlen(airlock_plugin_version);
    for (const char *const *h = airlock_plugin_hooks; *h; h++) size += strlen(*h) + 4;
    char *env = malloc(size), *q = env;
    q += sprintf(q, "{\"result\":{\"protocol\":1,\"name\":\"%s\",\"version\":\"%s\",\"hooks\":[",
                 airlock_plugin_name, airlock_plugin_version);
    for (const char *const *h = airlock_plugin_hooks; *h; h++) {
        q += sprintf(q, "%s\"%s\"", h == airlock_plugin_hooks ? "" : ",", *h);
    }
    strcpy(q, "]}}");
    return answer(env);
}

/* parse_call reads the call params: name, phase and the input, which the
 * host always sends last (docs/ABI.md), so that its end is found without
 * scanning it: every loop iteration in a guest pays a termination check.
 * The input is returned in place, terminated where it ends (in must stay
 * alive while it is used), or "null" if the params have none. */
static const char *parse_call(char *in, size_t len, char *name, size_t name_size, char *phase, size_t phase_size) {
    name[0] = phase[0] = 0;
    call_traceparent[0] = call_tracestate[0] = 0;
    const char *end = in + len; /* the closing brace is the last byte */
    while (end > in && end[-1] != '}') end--;
    const char *p = skip_ws(in);
    if (*p != '{') return NULL;
    p = skip_ws(p + 1);
    while (*p == '"') {
        const char *kend = skip_string(p);
        if (!kend) return NULL;
        size_t klen = (size_t)(kend - p - 2);
        const char *key = p + 1;
        p = skip_ws(kend);
        if (*p != ':') return NULL;
        const char *v = skip_ws(p + 1);
        if (klen == 5 && strncmp(key, "input", 5) == 0) {
            char *vend = (char *)end - 1; /* the closing brace */
            while (vend > v && (vend[-1] == ' ' || vend[-1] == '\n' || vend[-1] == '\t' || vend[-1] == '\r')) vend--;
            if (vend <= v) return NULL;
            *vend = 0;
            return v;
        }
        if (klen == 4 && strncmp(key, "name", 4) == 0 && *v == '"') unescape(v, name, name_size);
        if (klen == 5 && strncmp(key, "phase", 5) == 0 && *v == '"') unescape(v, phase, phase_size);
        if (klen == 11 && strncmp(key, "traceparent", 11) == 0 && *v == '"') unescape(v, call_traceparent, sizeof call_traceparent);
        if (klen == 10 && strncmp(key, "tracestate", 10) == 0 && *v == '"') unescape(v, call_tracestate, sizeof call_tracestate);
        const char *vend = skip_value(v);
        if (!vend) return NULL;
        p = skip_ws(vend);
        if (*p != ',') break;
        p = skip_ws(p + 1);
    }
    return "null";
}

EXPORT("airlock_call") uint64_t airlock_call(char *ptr, uint32_t len) {
    char *in = take(ptr, len);
    char name[128], phase[16];
    const char *input_json = parse_call(in, len, name, sizeof name, phase, sizeof phase);
    if (!input_json || !name[0]) {
        free(in);
        return answer_error(AIRLOCK_INVALID_INPUT, "call without a name or with malformed params");
    }

    int known = 0;
    for (const char *const *h = airlock_plugin_hooks; *h; h++) known |= strcmp(*h, name) == 0;
    free(result_json);
    free(error_message);
    result_json = NULL, error_message = NULL, error_code = 0;
    if (!known) {
        free(in);
        return answer_error(AIRLOCK_NOT_IMPLEMENTED, "not implemented");
    }
    airlock_handle(name, phase, input_json);
    free(in);
    if (error_code) return answer_error(error_code, error_message ? error_message : "failed");
    const char *res = result_json ? result_json : "null";
    size_t n = result_json ? result_len : 4;
    static const char head[] = "{\"result\":";
    size_t total = sizeof head - 1 + n + 1;
    char *env = malloc(total + 1);
    memcpy(env, head, sizeof head - 1);
    memcpy(env + sizeof head - 1, res, n);
    env[total - 1] = '}';
    env[total] = 0;
    return answer_len(env, total);
}

const char *airlock_traceparent(void) { return call_traceparent; }

const char *airlock_tracestate(void) { return call_tracestate; }

void airlock_result(const char *json) {
    free(result_json);
    result_len = strlen(json);
    result_json = copy(json, result_len);
}

void airlock_error(int code, const char *message) {
    free(error_message);
    error_code = code ? code : AIRLOCK_FAILED;
    error_message = copy(message, strlen(message));
}

/* ---- host calls ---- */

int airlock_call_host(const char *fn, const char *input, char **result) {
    if (!input) input = "null";
    uint32_t n = airlock_import_host_call(fn, (uint32_t)strlen(fn), input, (uint32_t)strlen(input));
    char *env = malloc(n + 1);
    airlock_import_host_result(env);
    env[n] = 0;
    size_t len;
    const char *err = find_member(env, "error", &len);
    if (err) {
        char msg[512];
        const char *code = find_member(err, "code", &len);
        int c = code ? atoi(code) : AIRLOCK_FAILED;
        if (airlock_json_string(err, "message", msg, sizeof msg) < 0) strcpy(msg, "host error");
        *result = copy(msg, strlen(msg));
        free(env);
        return c ? c : AIRLOCK_FAILED;
    }
    const char *res = find_member(env, "result", &len);
    *result = res ? copy(res, len) : copy("null", 4);
    free(env);
    return 0;
}

int airlock_log(const char *level, const char *msg) {
    char *qlevel = airlock_json_quote(level), *qmsg = airlock_json_quote(msg);
    size_t n = strlen(qlevel) + strlen(qmsg) + 32;
    char *in = malloc(n), *out = NULL;
    snprintf(in, n, "{\"level\":%s,\"msg\":%s}", qlevel, qmsg);
    int rc = airlock_call_host("log", in, &out);
    free(qlevel), free(qmsg), free(in), free(out);
    return rc;
}

const char *airlock_config(void) {
    return config_json ? config_json : "{}";
}

int airlock_setting(const char *name, char *buf, size_t size) {
    return config_json ? airlock_json_string(config_json, name, buf, size) : -1;
}
