/*
 * A stand-in for bcryptprimitives.dll's ProcessPrng, which Go (since 1.22)
 * needs and Debian's Wine 8 lacks. It fills the buffer from RtlGenRandom
 * (advapi32's SystemFunction036). Built by .ci/windows-tests into the wine
 * prefix only; it never ships with Airlock.
 */
#include <windows.h>

typedef BOOLEAN(WINAPI *rtl_gen_random)(PVOID, ULONG);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    static rtl_gen_random gen;
    if (!gen) {
        HMODULE advapi = LoadLibraryA("advapi32.dll");
        if (!advapi) return FALSE;
        gen = (rtl_gen_random)GetProcAddress(advapi, "SystemFunction036");
        if (!gen) return FALSE;
    }
    while (len > 0) {
        ULONG n = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!gen(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
