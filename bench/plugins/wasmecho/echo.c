/* wasmecho: the Airlock wasm echo plugin of the benchmarks, in C. */
#include "airlock.h"

AIRLOCK_PLUGIN("wasmecho", "1.0.0", "echo")

void airlock_handle(const char *name, const char *phase, const char *input) {
    (void)name, (void)phase;
    airlock_result(input);
}
