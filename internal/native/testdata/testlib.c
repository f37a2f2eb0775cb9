/* testlib: a native plugin for the tests, with behaviours by hook name.
 * -DREPORT_VERSION=N makes it claim another ABI version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock_json.h"
#include "airlock_native.h"

#ifndef REPORT_VERSION
#define REPORT_VERSION AIRLOCK_NATIVE_API_VERSION
#endif

static const airlock_host_v1 *host;

/* copy returns a NUL-terminated copy of n bytes at p (mingw-w64 has no
 * strndup). */
static char *copy(const void *p, size_t n) {
    char *s = malloc(n + 1);
    if (s == NULL) abort();
    if (n) memcpy(s, p, n);
    s[n] = 0;
    return s;
}
static int init_calls; /* how many times init ran (never unloaded: once) */

static int32_t answer(int32_t code, const char *s, size_t n, uint8_t **out, size_t *out_len) {
    *out = malloc(n ? n : 1);
    memcpy(*out, s, n);
    *out_len = n;
    return code;
}

static int32_t text(int32_t code, const char *s, uint8_t **out, size_t *out_len) {
    return answer(code, s, strlen(s), out, out_len);
}

/* hostcall: input {"fn": "...", "input": <json>}; answers {"code": N,
 * "result": <the host's bytes as a string>}. */
static int32_t hostcall(const airlock_call_v1 *call, uint8_t **out, size_t *out_len) {
    char *in = copy(call->input, call->input_len), err[64];
    airlock_json *v = airlock_json_parse(in, err, sizeof err);
    free(in);
    const airlock_json *fn = airlock_json_get(v, "fn"), *arg = airlock_json_get(v, "input");
    if (fn == NULL || fn->kind != AIRLOCK_JSON_STRING) {
        airlock_json_free(v);
        return text(AIRLOCK_NATIVE_INVALID_INPUT, "hostcall: fn missing", out, out_len);
    }
    airlock_json_buf a = {0};
    if (arg) airlock_json_write(&a, arg); else airlock_json_raw(&a, "null");
    uint8_t *res = NULL;
    size_t res_len = 0;
    int32_t rc = host->host_call(call->ctx, fn->string, (const uint8_t *)a.data, strlen(a.data), &res, &res_len);
    free(a.data);
    char *r = copy(res, res_len);
    airlock_json_buf b = {0};
    char num[32];
    snprintf(num, sizeof num, "{\"code\":%d,\"result\":", rc);
    airlock_json_raw(&b, num);
    airlock_json_string_value(&b, r);
    airlock_json_raw(&b, "}");
    free(r);
    airlock_json_free(v);
    *out = (uint8_t *)b.data;
    *out_len = strlen(b.data);
    return AIRLOCK_NATIVE_OK;
}

/* read: input {"path": "..."}; answers the file's first bytes as a string,
 * or fails with the reason. */
static int32_t readfile(const airlock_call_v1 *call, uint8_t **out, size_t *out_len) {
    char *in = copy(call->input, call->input_len), err[64];
    airlock_json *v = airlock_json_parse(in, err, sizeof err);
    free(in);
    const airlock_json *p = airlock_json_get(v, "path");
    FILE *f = p && p->kind == AIRLOCK_JSON_STRING ? fopen(p->string, "r") : NULL;
    airlock_json_free(v);
    if (f == NULL) return text(AIRLOCK_NATIVE_FAILED, "read: cannot open", out, out_len);
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    airlock_json_buf b = {0};
    airlock_json_string_value(&b, buf);
    *out = (uint8_t *)b.data;
    *out_len = strlen(b.data);
    return AIRLOCK_NATIVE_OK;
}

static int32_t plugin_call(const airlock_call_v1 *call, uint8_t **out, size_t *out_len) {
    if (strcmp(call->name, "echo") == 0) {
        /* {"input": <input>, "phase": "...", "config": <settings>,
         *  "traceparent": "...", "tracestate": "...", "inits": N} */
        airlock_json_buf b = {0};
        airlock_json_raw(&b, "{\"input\":");
        char *in = copy(call->input, call->input_len);
        char *conf = copy(call->config, call->config_len);
        airlock_json_raw(&b, in);
        airlock_json_raw(&b, ",\"phase\":");
        airlock_json_string_value(&b, call->phase);
        airlock_json_raw(&b, ",\"config\":");
        airlock_json_raw(&b, conf);
        airlock_json_raw(&b, ",\"traceparent\":");
        airlock_json_string_value(&b, airlock_native_traceparent(host, call, NULL));
        airlock_json_raw(&b, ",\"tracestate\":");
        airlock_json_string_value(&b, airlock_native_tracestate(host, call, NULL));
        char num[32];
        snprintf(num, sizeof num, ",\"inits\":%d}", init_calls);
        airlock_json_raw(&b, num);
        free(in);
        free(conf);
        *out = (uint8_t *)b.data;
        *out_len = strlen(b.data);
        return AIRLOCK_NATIVE_OK;
    }
    if (strcmp(call->name, "hostcall") == 0) return hostcall(call, out, out_len);
    if (strcmp(call->name, "read") == 0) return readfile(call, out, out_len);
    if (strcmp(call->name, "fail") == 0) return text(AIRLOCK_NATIVE_FAILED, "fail: as asked", out, out_len);
    if (strcmp(call->name, "crash") == 0) {
        volatile int *p = NULL;
        *p = 1; /* a segmentation fault */
    }
    return text(AIRLOCK_NATIVE_NOT_IMPLEMENTED, "no such hook", out, out_len);
}

static void plugin_free(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
}

AIRLOCK_NATIVE_EXPORT uint32_t airlock_native_api_version(void) { return REPORT_VERSION; }

AIRLOCK_NATIVE_EXPORT int32_t airlock_native_init(const airlock_host_v1 *h, airlock_plugin_v1 *out) {
    if (h->api_version != AIRLOCK_NATIVE_API_VERSION) return AIRLOCK_NATIVE_VERSION_MISMATCH;
    host = h;
    init_calls++;
    out->api_version = AIRLOCK_NATIVE_API_VERSION;
    out->name = "testlib";
    out->version = "0.1.0";
    out->hooks = "echo hostcall read fail crash";
    out->call = plugin_call;
    out->free = plugin_free;
    return AIRLOCK_NATIVE_OK;
}
