/*
 * airlock_native.h: the C ABI of Airlock's native tier (docs/NATIVE.md).
 *
 * A native plugin is a shared library (.so, .dylib, .dll) that exports two
 * functions:
 *
 *     uint32_t airlock_native_api_version(void);
 *     int32_t  airlock_native_init(const airlock_host_v1 *host,
 *                                  airlock_plugin_v1 *out);
 *
 * The host calls airlock_native_api_version first, before anything else of
 * the plugin runs, and refuses the library unless it answers
 * AIRLOCK_NATIVE_API_VERSION. It then calls airlock_native_init once, with
 * its table of host functions; the plugin checks host->api_version, fills
 * *out and returns AIRLOCK_NATIVE_OK. The library is never unloaded.
 *
 * Everything crossing the boundary is JSON in UTF-8, as in the other tiers:
 * a hook's input and result, a host function's input and result.
 *
 * Memory: whoever allocates frees.
 *   - The host's buffers (a call's name, phase, input and settings) are
 *     valid until the plugin's call returns; copy what you keep.
 *   - A call's result (or error message) is allocated by the plugin; the
 *     host copies it and then passes it to the plugin's free.
 *   - A host function's result (or error message) is allocated by the host
 *     and valid until the plugin's call returns, or until the plugin passes
 *     it to host->free, whichever comes first.
 *
 * Threads: the host calls `call` from several threads at once (up to the
 * plugin's max_inflight limit): the plugin must be thread-safe. host_call
 * may only be made during a call, from the thread running it, with that
 * call's ctx; outside a call it returns AIRLOCK_NATIVE_NO_CALL.
 *
 * Trust: in-process (isolation = "in-process", the default) a native plugin
 * is the host: it can read and write all of the host's memory, and a crash
 * is the host's crash. Run untrusted libraries with isolation = "process".
 */
#ifndef AIRLOCK_NATIVE_H
#define AIRLOCK_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this ABI. A change to any struct or signature below is a
 * new version; a host refuses a library built for another. Fields are
 * only ever appended within a version, behind a size that says whether
 * the other side has them (airlock_host_v1.size and .call_size). */
#define AIRLOCK_NATIVE_API_VERSION 1u

/* Status codes: 0 is success; errors are the protocol's error codes
 * (docs/PROTOCOL.md), so a host sees the same code from every tier. */
#define AIRLOCK_NATIVE_OK 0
#define AIRLOCK_NATIVE_FAILED -32000          /* the handler failed */
#define AIRLOCK_NATIVE_DENIED -32001          /* a capability is not granted */
#define AIRLOCK_NATIVE_CANCELLED -32002       /* the call was cancelled or timed out */
#define AIRLOCK_NATIVE_NOT_IMPLEMENTED -32004 /* no such hook or function */
#define AIRLOCK_NATIVE_INVALID_INPUT -32602   /* the input does not fit */
/* host_call made outside a call, or with a ctx that is not the call's. */
#define AIRLOCK_NATIVE_NO_CALL -32600
/* airlock_native_init: the host's api_version is not the plugin's. */
#define AIRLOCK_NATIVE_VERSION_MISMATCH 1

#if defined(_WIN32)
#define AIRLOCK_NATIVE_EXPORT __declspec(dllexport)
#else
#define AIRLOCK_NATIVE_EXPORT __attribute__((visibility("default")))
#endif

/* One call of a hook or function, from the host to the plugin. Every
 * pointer is the host's and valid until the call returns. The strings are
 * also NUL-terminated. */
typedef struct airlock_call_v1 {
    const char *name;       /* the hook or function, e.g. "greet" */
    size_t name_len;
    const char *phase;      /* "before", "define", "after", or "" for a direct call */
    size_t phase_len;
    const uint8_t *input;   /* JSON */
    size_t input_len;
    const uint8_t *config;  /* the plugin's settings, a JSON object, defaults filled in */
    size_t config_len;
    void *ctx;              /* pass to host->host_call; identifies this call */
    /* Appended to version 1: present only when host->call_size covers them
     * (older hosts pass a shorter struct); read them with
     * airlock_native_traceparent and airlock_native_tracestate below. The
     * call's W3C trace context (docs/NATIVE.md), "" when it is not traced. */
    const char *traceparent; /* "00-TRACEID-SPANID-FLAGS" */
    size_t traceparent_len;
    const char *tracestate;
    size_t tracestate_len;
} airlock_call_v1;

/* The host's functions, given to airlock_native_init. The table lives for
 * the life of the process. */
typedef struct airlock_host_v1 {
    uint32_t api_version;   /* AIRLOCK_NATIVE_API_VERSION of the host */
    uint32_t size;          /* sizeof(airlock_host_v1) as the host knows it */
    /* Calls the host function fn (NUL-terminated, e.g. "log") with a JSON
     * input. The host checks the plugin's grants first. On success it
     * returns AIRLOCK_NATIVE_OK and *out holds the JSON result; otherwise it
     * returns an error code and *out holds a UTF-8 message. *out belongs to
     * the host (see Memory above); it may be NULL when *out_len is 0. */
    int32_t (*host_call)(void *ctx, const char *fn, const uint8_t *in, size_t in_len,
                         uint8_t **out, size_t *out_len);
    /* Releases a host_call result before the call returns (optional). */
    void (*free)(void *ctx, uint8_t *ptr);
    /* Appended to version 1: sizeof(airlock_call_v1) as the host fills it
     * in. Present only when size covers it (older hosts lack it, and pass
     * the call's fields up to ctx only). */
    uint32_t call_size;
} airlock_host_v1;

/* Whether host fills in call's fields up to and including member. */
#define AIRLOCK_NATIVE_HAS_CALL_FIELD(host, member)                                                   \
    ((host)->size >= offsetof(airlock_host_v1, call_size) + sizeof(uint32_t) &&                      \
     (host)->call_size >= offsetof(airlock_call_v1, member) + sizeof(((airlock_call_v1 *)0)->member))

/* The call's W3C traceparent (NUL-terminated; *len its length), or "" when
 * the call is not traced or the host is too old to pass it. Give it, with
 * the tracestate, to a tracer to make the plugin's spans children of the
 * host's call span. Valid until the call returns. */
static inline const char *airlock_native_traceparent(const airlock_host_v1 *host, const airlock_call_v1 *call, size_t *len) {
    if (!AIRLOCK_NATIVE_HAS_CALL_FIELD(host, traceparent_len) || call->traceparent == NULL) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = call->traceparent_len;
    return call->traceparent;
}

/* The W3C tracestate that goes with the traceparent, or "". */
static inline const char *airlock_native_tracestate(const airlock_host_v1 *host, const airlock_call_v1 *call, size_t *len) {
    if (!AIRLOCK_NATIVE_HAS_CALL_FIELD(host, tracestate_len) || call->tracestate == NULL) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = call->tracestate_len;
    return call->tracestate;
}

/* The plugin's side, filled in by airlock_native_init. The strings must
 * live as long as the library (string literals are fine). */
typedef struct airlock_plugin_v1 {
    uint32_t api_version;   /* set to AIRLOCK_NATIVE_API_VERSION */
    uint32_t size;          /* set by the host to sizeof(airlock_plugin_v1) before init */
    const char *name;       /* must match the manifest's name */
    const char *version;    /* the plugin's version */
    const char *hooks;      /* the hooks and functions it implements, separated by spaces */
    /* Runs one call. Returns AIRLOCK_NATIVE_OK with *out holding the JSON
     * result, or an error code with *out holding a UTF-8 message (or NULL).
     * *out is allocated by the plugin and released with free below. */
    int32_t (*call)(const airlock_call_v1 *call, uint8_t **out, size_t *out_len);
    /* Releases a result of call. */
    void (*free)(uint8_t *ptr, size_t len);
} airlock_plugin_v1;

/* The two exports, for reference; a plugin defines them with
 * AIRLOCK_NATIVE_EXPORT. */
typedef uint32_t (*airlock_native_api_version_fn)(void);
typedef int32_t (*airlock_native_init_fn)(const airlock_host_v1 *host, airlock_plugin_v1 *out);

#ifdef __cplusplus
}
#endif

#endif /* AIRLOCK_NATIVE_H */
