/* hello-native-c: an example Airlock plugin in C for the native tier, a
 * shared library loaded by the host (docs/NATIVE.md). The hook "greet"
 * takes {"name": "ada"} and returns {"message": "hello, ada"} using the
 * "greeting" setting, and logs through the host. The function "peek"
 * reports the process it runs in and tries to read a file: "airlock demo"
 * uses it to show what running contained changes.
 *
 * It is thread-safe as the ABI requires: it keeps no state between calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <process.h>
#define getpid _getpid
#else
#include <unistd.h>
#endif

#include "airlock_json.h"
#include "airlock_native.h"

static const airlock_host_v1 *host; /* set once by init, read-only after */

/* answer hands the host a malloc'ed copy of s, with code. */
static int32_t answer(int32_t code, const char *s, uint8_t **out, size_t *out_len) {
    size_t n = strlen(s);
    *out = malloc(n ? n : 1);
    if (*out == NULL) return AIRLOCK_NATIVE_FAILED;
    memcpy(*out, s, n);
    *out_len = n;
    return code;
}

/* parse parses the JSON text in (len bytes, not NUL-terminated); NULL if
 * it is not JSON. Free the value with airlock_json_free. */
static airlock_json *parse(const uint8_t *in, size_t len) {
    char *text = malloc(len + 1), err[128];
    if (text == NULL) return NULL;
    memcpy(text, in, len);
    text[len] = 0;
    airlock_json *v = airlock_json_parse(text, err, sizeof err);
    free(text);
    return v;
}

static int32_t log_info(void *ctx, const char *msg) {
    airlock_json_buf b = {0};
    airlock_json_raw(&b, "{\"level\":\"info\",\"msg\":");
    airlock_json_string_value(&b, msg);
    airlock_json_raw(&b, "}");
    if (b.failed) return AIRLOCK_NATIVE_FAILED;
    uint8_t *res = NULL;
    size_t res_len = 0;
    int32_t rc = host->host_call(ctx, "log", (const uint8_t *)b.data, strlen(b.data), &res, &res_len);
    free(b.data);
    host->free(ctx, res); /* optional: the host frees it when the call returns */
    return rc;
}

static int32_t greet(const airlock_call_v1 *call, uint8_t **out, size_t *out_len) {
    airlock_json *in = parse(call->input, call->input_len);
    const airlock_json *name = airlock_json_get(in, "name");
    if (name == NULL || name->kind != AIRLOCK_JSON_STRING || name->string[0] == 0) {
        airlock_json_free(in);
        return answer(AIRLOCK_NATIVE_FAILED, "greet: name is empty", out, out_len);
    }
    char line[300];
    snprintf(line, sizeof line, "greeting %s", name->string);
    int32_t rc = log_info(call->ctx, line);
    if (rc != AIRLOCK_NATIVE_OK) {
        airlock_json_free(in);
        return answer(rc, "greet: the host refused to log", out, out_len);
    }
    airlock_json *config = parse(call->config, call->config_len);
    const airlock_json *g = airlock_json_get(config, "greeting");
    char message[600];
    snprintf(message, sizeof message, "%s, %s", g && g->kind == AIRLOCK_JSON_STRING ? g->string : "hello", name->string);
    airlock_json_free(config);
    airlock_json_free(in);
    airlock_json_buf b = {0};
    airlock_json_raw(&b, "{\"message\":");
    airlock_json_string_value(&b, message);
    airlock_json_raw(&b, "}");
    if (b.failed) return answer(AIRLOCK_NATIVE_FAILED, "greet: out of memory", out, out_len);
    *out = (uint8_t *)b.data; /* malloc'ed: plugin_free releases it */
    *out_len = strlen(b.data);
    return AIRLOCK_NATIVE_OK;
}

/* peek: input {} or {"path": "..."}. Answers {"pid": N}, the process the
 * library runs in as it sees it, and with a path the file's first line
 * ("read") or why it could not be opened ("error"). In the host's process
 * the library can open whatever the host can; contained, the sandbox
 * decides. */
static int32_t peek(const airlock_call_v1 *call, uint8_t **out, size_t *out_len) {
    airlock_json *in = parse(call->input, call->input_len);
    const airlock_json *path = airlock_json_get(in, "path");
    char head[64];
    snprintf(head, sizeof head, "{\"pid\":%ld", (long)getpid());
    airlock_json_buf b = {0};
    airlock_json_raw(&b, head);
    if (path != NULL && path->kind == AIRLOCK_JSON_STRING) {
        FILE *f = fopen(path->string, "r");
        if (f == NULL) {
            airlock_json_raw(&b, ",\"error\":");
            airlock_json_string_value(&b, strerror(errno));
        } else {
            char line[256] = "";
            if (fgets(line, sizeof line, f) == NULL) line[0] = 0;
            fclose(f);
            line[strcspn(line, "\n")] = 0;
            airlock_json_raw(&b, ",\"read\":");
            airlock_json_string_value(&b, line);
        }
    }
    airlock_json_raw(&b, "}");
    airlock_json_free(in);
    if (b.failed) return answer(AIRLOCK_NATIVE_FAILED, "peek: out of memory", out, out_len);
    *out = (uint8_t *)b.data;
    *out_len = strlen(b.data);
    return AIRLOCK_NATIVE_OK;
}

static int32_t plugin_call(const airlock_call_v1 *call, uint8_t **out, size_t *out_len) {
    if (strcmp(call->name, "greet") == 0) return greet(call, out, out_len);
    if (strcmp(call->name, "peek") == 0) return peek(call, out, out_len);
    return answer(AIRLOCK_NATIVE_NOT_IMPLEMENTED, "no such hook", out, out_len);
}

static void plugin_free(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
}

AIRLOCK_NATIVE_EXPORT uint32_t airlock_native_api_version(void) { return AIRLOCK_NATIVE_API_VERSION; }

AIRLOCK_NATIVE_EXPORT int32_t airlock_native_init(const airlock_host_v1 *h, airlock_plugin_v1 *out) {
    if (h->api_version != AIRLOCK_NATIVE_API_VERSION) return AIRLOCK_NATIVE_VERSION_MISMATCH;
    host = h;
    out->api_version = AIRLOCK_NATIVE_API_VERSION;
    out->name = "hello-native-c";
    out->version = "0.1.0";
    out->hooks = "greet peek"; /* the hooks and functions it handles */
    out->call = plugin_call;
    out->free = plugin_free;
    return AIRLOCK_NATIVE_OK;
}
