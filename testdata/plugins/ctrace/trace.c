/* ctrace: a wasm plugin in C (sdk/c) whose function "trace" answers the
 * call's trace context as the SDK gives it, and whose function "hostcall"
 * calls the host's "log" (telemetry_test.go). */
#include <stdlib.h>
#include <string.h>

#include "airlock.h"

AIRLOCK_PLUGIN("ctrace", "0.1.0", "trace", "hostcall")

void airlock_handle(const char *name, const char *phase, const char *input) {
    (void)phase, (void)input;
    if (strcmp(name, "hostcall") == 0) {
        int rc = airlock_log("info", "from ctrace");
        airlock_result(rc == 0 ? "\"logged\"" : "\"refused\"");
        return;
    }
    char *tp = airlock_json_quote(airlock_traceparent());
    char *ts = airlock_json_quote(airlock_tracestate());
    char *out = malloc(strlen(tp) + strlen(ts) + 40);
    strcpy(out, "{\"traceparent\":");
    strcat(out, tp);
    strcat(out, ",\"tracestate\":");
    strcat(out, ts);
    strcat(out, "}");
    airlock_result(out);
    free(tp), free(ts), free(out);
}
