/* extismecho: the same echo as an extism plugin, speaking extism's ABI
 * (the extism:host/env imports), for the benchmarks. */
#include <stdint.h>

#define IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))

IMPORT("input_length") uint64_t input_length(void);
IMPORT("input_load_u64") uint64_t input_load_u64(uint64_t offset);
IMPORT("input_load_u8") uint32_t input_load_u8(uint64_t offset);
IMPORT("alloc") uint64_t extism_alloc(uint64_t n);
IMPORT("store_u64") void store_u64(uint64_t p, uint64_t v);
IMPORT("store_u8") void store_u8(uint64_t p, uint32_t v);
IMPORT("output_set") void output_set(uint64_t p, uint64_t n);

__attribute__((export_name("echo"))) int32_t echo(void) {
    uint64_t n = input_length();
    uint64_t out = extism_alloc(n);
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8) store_u64(out + i, input_load_u64(i));
    for (; i < n; i++) store_u8(out + i, input_load_u8(i));
    output_set(out, n);
    return 0;
}
