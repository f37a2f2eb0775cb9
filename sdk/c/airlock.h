/*
 * Airlock plugin SDK for C, for the wasm tier.
 *
 * Build a plugin with clang and wasi-libc:
 *
 *   clang --target=wasm32-wasi -O2 -mbulk-memory -mexec-model=reactor \
 *         -I path/to/sdk/c -o plugin.wasm plugin.c path/to/sdk/c/airlock.c
 *
 * A plugin names itself with AIRLOCK_PLUGIN and implements airlock_handle:
 *
 *   #include "airlock.h"
 *   AIRLOCK_PLUGIN("hello-wasm-c", "0.1.0", "greet")
 *
 *   void airlock_handle(const char *name, const char *phase, const char *input) {
 *       char who[64];
 *       if (airlock_json_string(input, "name", who, sizeof who) < 0) {
 *           airlock_error(AIRLOCK_FAILED, "greet: name is missing");
 *           return;
 *       }
 *       ...
 *       airlock_result("{\"message\":\"hello\"}");
 *   }
 *
 * docs/ABI.md describes what this file implements, for other languages.
 */
#ifndef AIRLOCK_H
#define AIRLOCK_H

#include <stddef.h>

/* Error codes (docs/PROTOCOL.md). */
#define AIRLOCK_FAILED -32000
#define AIRLOCK_DENIED -32001
#define AIRLOCK_CANCELLED -32002
#define AIRLOCK_NOT_IMPLEMENTED -32004
#define AIRLOCK_INVALID_INPUT -32602

/* The plugin's identity: name, version, and the hooks and functions it
 * implements, as a NULL-terminated list. Define them with AIRLOCK_PLUGIN. */
extern const char airlock_plugin_name[];
extern const char airlock_plugin_version[];
extern const char *const airlock_plugin_hooks[];

#define AIRLOCK_PLUGIN(name, version, ...)                                  \
    const char airlock_plugin_name[] = name;                                \
    const char airlock_plugin_version[] = version;                          \
    const char *const airlock_plugin_hooks[] = {__VA_ARGS__, (const char *)0};

/* airlock_handle runs one hook or function. name is its name, phase is
 * "before", "define", "after" or "" (a direct call), input is its JSON
 * input, NUL-terminated. It sets the outcome with airlock_result or
 * airlock_error; setting neither answers null. Implemented by the plugin. */
void airlock_handle(const char *name, const char *phase, const char *input);

/* airlock_result sets the call's result to json (copied). */
void airlock_result(const char *json);

/* airlock_error fails the call with code and message (copied). */
void airlock_error(int code, const char *message);

/* airlock_traceparent returns the current call's W3C trace context as the
 * host sent it ("00-TRACEID-SPANID-FLAGS"), or "" when the host does not
 * trace the call; airlock_tracestate the tracestate that goes with it, or
 * "". Give them to a tracer to make the plugin's spans children of the
 * host's call span. Valid during airlock_handle. */
const char *airlock_traceparent(void);
const char *airlock_tracestate(void);

/* airlock_call_host calls the host function fn with input (JSON, or NULL
 * for null). It returns 0 and sets *result to the JSON result, or returns
 * the host's error code and sets *result to its message (AIRLOCK_DENIED:
 * a capability is not granted). *result is malloc'ed; free it. */
int airlock_call_host(const char *fn, const char *input, char **result);

/* airlock_log writes one line to the host's log through the host function
 * "log" (capability "log"). level is debug, info, warn or error. It
 * returns 0 or the host's error code. */
int airlock_log(const char *level, const char *msg);

/* airlock_setting copies the setting called name, if it is a string, into
 * buf (NUL-terminated, cut to size) and returns its length, or -1. */
int airlock_setting(const char *name, char *buf, size_t size);

/* airlock_config returns the plugin's settings as the host sent them: a
 * JSON object, defaults filled in ("{}" before initialize). The text is
 * the SDK's; do not free it. airlock gen --manifest writes a typed,
 * strict decoder of it (PREFIX_load_settings). */
const char *airlock_config(void);

/* airlock_json_string finds the string member key of the JSON object json
 * (at its top level), unescapes it into buf (NUL-terminated, cut to size)
 * and returns its length, or -1 if there is none. */
int airlock_json_string(const char *json, const char *key, char *buf, size_t size);

/* airlock_json_quote returns s as a JSON string literal, quotes included,
 * malloc'ed. */
char *airlock_json_quote(const char *s);

#endif
