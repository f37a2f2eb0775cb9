/* evil: a wasm guest for the tests that speaks the ABI by hand and breaks it
 * on request. The call's name says how. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("airlock"), import_name(name)))

IMPORT("host_call") uint32_t host_call(const char *fn, uint32_t fn_len, const char *in, uint32_t in_len);
IMPORT("host_result") void host_result(char *buf);

#ifdef FORBIDDEN_IMPORT
__attribute__((import_module("env"), import_name("system"))) int system_call(const char *);
#endif

static uint64_t pack(const char *s, size_t n) {
    char *out = malloc(n);
    memcpy(out, s, n);
    return ((uint64_t)(uintptr_t)out << 32) | n;
}

static uint64_t reply(const char *s) { return pack(s, strlen(s)); }

EXPORT("airlock_alloc") void *airlock_alloc(uint32_t n) { return malloc(n ? n : 1); }
EXPORT("airlock_free") void airlock_free(void *p, uint32_t n) { (void)n; free(p); }

EXPORT("airlock_init") uint64_t airlock_init(char *p, uint32_t n) {
    (void)n;
    free(p);
#ifdef FORBIDDEN_IMPORT
    system_call("rm -rf /");
#endif
    return reply("{\"result\":{\"protocol\":1,\"name\":\"evil\",\"version\":\"1.0.0\",\"hooks\":[\"attack\"]}}");
}

static int recurse(int n) {
    volatile char pad[256];
    pad[0] = (char)n;
    return recurse(n + 1) + pad[0];
}

EXPORT("airlock_call") uint64_t airlock_call(char *p, uint32_t n) {
    char *in = malloc(n + 1);
    memcpy(in, p, n);
    in[n] = 0;
    free(p);
    uint64_t r = reply("{\"result\":\"ok\"}");
    if (strstr(in, "\"loop\"")) {
        for (volatile int i = 0;; i++) {
        }
    } else if (strstr(in, "\"trap\"")) {
        __builtin_trap();
    } else if (strstr(in, "\"recurse\"")) {
        r = (uint64_t)recurse(0);
    } else if (strstr(in, "\"grow\"")) {
        /* Grow memory one page at a time until refused; report the pages. */
        int pages = 0;
        while (__builtin_wasm_memory_grow(0, 1) != (size_t)-1 && pages < 100000) pages++;
        char buf[64];
        size_t total = __builtin_wasm_memory_size(0);
        int k = 0;
        k += sprintf(buf, "{\"result\":%zu}", total);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"oob\"")) {
        r = ((uint64_t)0xFFFFFF00u << 32) | 1000; /* past the end of memory */
    } else if (strstr(in, "\"huge\"")) {
        size_t size = 8u << 20;
        char *big = malloc(size);
        memset(big, ' ', size);
        memcpy(big, "{\"result\":\"", 11);
        memcpy(big + size - 2, "\"}", 2);
        r = ((uint64_t)(uintptr_t)big << 32) | size;
    } else if (strstr(in, "\"garbage\"")) {
        r = reply("this is not an envelope");
    } else if (strstr(in, "\"denied\"")) {
        const char *fn = "secret.read";
        uint32_t len = host_call(fn, strlen(fn), "{}", 2);
        char *res = malloc(len + 1);
        host_result(res);
        res[len] = 0;
        char *out = malloc(len + 32);
        strcpy(out, "{\"result\":");
        strcat(out, res);
        strcat(out, "}");
        r = reply(out);
    } else if (strstr(in, "\"hostoob\"")) {
        uint32_t len = host_call((const char *)0xFFFFFFF0u, 100, "{}", 2);
        (void)len;
    }
    free(in);
    return r;
}
