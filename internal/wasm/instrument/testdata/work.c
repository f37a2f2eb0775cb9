/* Guests for the instrumentation's tests: each export does some work
 * and returns a value that depends on all of it, so that a rewriting that
 * changed what the code does changes the answer. */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(#name)))

static uint8_t buf[1 << 16];
volatile int zero = 0;

EXPORT(fnv) uint32_t fnv(int rounds) {
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

EXPORT(fib) uint64_t fib_export(int n) { return fib(n); }

static int add(int a, int b) { return a + b; }
static int sub(int a, int b) { return a - b; }
static int mul(int a, int b) { return a * b; }
static int (*const ops[])(int, int) = {add, sub, mul};

EXPORT(indirect) int indirect(int n) {
    int acc = 1;
    for (int i = 0; i < n; i++)
        acc = ops[(i + zero) % 3](acc, i) ^ (acc >> 3);
    return acc;
}

/* sort fills memory with pseudo-random words and sorts them (memory-heavy). */
EXPORT(sort) uint32_t sort(int n) {
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

EXPORT(spin) int spin(int n) {
    volatile int x = n;
    for (;;) x++;
    return x;
}

EXPORT(fill) int fill(int n) {
    __builtin_memset(buf, n, sizeof buf);
    return buf[n & 0xffff] + buf[0];
}
