/* answer: a wasm guest for the cache tests. Built twice, with -DANSWER=42
 * and -DANSWER=41, it gives two modules whose machine code differs only
 * in that constant, so that one's compiled code run as the other's
 * answers the other's number. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

static uint64_t pack(const char *s, size_t n) {
    char *out = malloc(n);
    memcpy(out, s, n);
    return ((uint64_t)(uintptr_t)out << 32) | n;
}

EXPORT("airlock_alloc") void *airlock_alloc(uint32_t n) { return malloc(n ? n : 1); }
EXPORT("airlock_free") void airlock_free(void *p, uint32_t n) { (void)n; free(p); }

EXPORT("airlock_init") uint64_t airlock_init(char *p, uint32_t n) {
    (void)n;
    free(p);
    const char *s = "{\"result\":{\"protocol\":1,\"name\":\"answer\",\"version\":\"1.0.0\",\"hooks\":[\"answer\"]}}";
    return pack(s, strlen(s));
}

__attribute__((noinline)) static int answer(void) { return ANSWER; }

EXPORT("airlock_call") uint64_t airlock_call(char *p, uint32_t n) {
    (void)n;
    free(p);
    char buf[16] = "{\"result\":";
    int k = 10, v = answer();
    buf[k++] = (char)('0' + v / 10);
    buf[k++] = (char)('0' + v % 10);
    buf[k++] = '}';
    return pack(buf, (size_t)k);
}
