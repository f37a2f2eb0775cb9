/* wasmcompute: compute-bound work for the wasm benchmarks, in C. Each
 * function takes a number (how much work) and returns a number that
 * depends on all of the work: "loop" (an FNV hash over 64 KiB, a tight
 * loop), "recurse" (a naive Fibonacci, calls and no loop), "memory" (an
 * insertion sort of pseudo-random words, loads and stores). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock.h"

AIRLOCK_PLUGIN("wasmcompute", "1.0.0", "loop", "recurse", "memory")

static uint8_t buf[1 << 16];

static uint32_t fnv(int rounds) {
    uint32_t h = 2166136261u;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < (int)sizeof buf; i++) {
            h ^= buf[i] + r;
            h *= 16777619u;
        }
    return h;
}

__attribute__((noinline)) static uint64_t fib(int n) {
    return n < 2 ? (uint64_t)n : fib(n - 1) + fib(n - 2);
}

static uint32_t sort(int n) {
    uint32_t *a = (uint32_t *)buf;
    if (n > (int)(sizeof buf / 4)) n = sizeof buf / 4;
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        a[i] = x >> 8;
    }
    for (int i = 1; i < n; i++) {
        uint32_t v = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
    uint32_t h = 0;
    for (int i = 0; i < n; i++) h = h * 31 + a[i];
    return h;
}

void airlock_handle(const char *name, const char *phase, const char *input) {
    (void)phase;
    int n = atoi(input);
    uint64_t r = 0;
    if (strcmp(name, "loop") == 0) r = fnv(n);
    else if (strcmp(name, "recurse") == 0) r = fib(n);
    else r = sort(n);
    char out[32];
    snprintf(out, sizeof out, "%llu", (unsigned long long)r);
    airlock_result(out);
}
