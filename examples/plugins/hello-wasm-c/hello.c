/* hello-wasm-c: an example Airlock plugin in C for the wasm tier. The hook
 * "greet" takes {"name": "ada"} and returns {"message": "hello, ada"} using
 * the "greeting" setting, and logs through the host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock.h"

AIRLOCK_PLUGIN("hello-wasm-c", "0.1.0", "greet")

void airlock_handle(const char *name, const char *phase, const char *input) {
    (void)name, (void)phase; /* greet is the only hook */
    char who[256], greeting[64];
    if (airlock_json_string(input, "name", who, sizeof who) <= 0) {
        airlock_error(AIRLOCK_FAILED, "greet: name is empty");
        return;
    }
    if (airlock_setting("greeting", greeting, sizeof greeting) < 0) strcpy(greeting, "hello");

    char line[300];
    snprintf(line, sizeof line, "greeting %s", who);
    int rc = airlock_log("info", line);
    if (rc != 0) {
        airlock_error(rc, "greet: the host refused to log");
        return;
    }
    char message[330];
    snprintf(message, sizeof message, "%s, %s", greeting, who);
    char *quoted = airlock_json_quote(message);
    char result[700];
    snprintf(result, sizeof result, "{\"message\":%s}", quoted);
    free(quoted);
    airlock_result(result);
}
