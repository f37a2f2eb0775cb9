#include "textflag.h"

// func int80(nr, a1, a2, a3 uintptr) uintptr
// A system call through the i386 ABI (int $0x80) from a 64-bit process.
TEXT ·int80(SB),NOSPLIT,$0-40
	MOVQ nr+0(FP), AX
	MOVQ a1+8(FP), BX
	MOVQ a2+16(FP), CX
	MOVQ a3+24(FP), DX
	INT $0x80
	MOVQ AX, ret+32(FP)
	RET

// func int80fork() uintptr
// fork(2) through the i386 ABI; the child exits at once, through the same
// ABI, without running any Go code.
TEXT ·int80fork(SB),NOSPLIT,$0-8
	MOVQ $2, AX
	INT $0x80
	CMPQ AX, $0
	JNE parent
	MOVQ $1, AX
	MOVQ $0, BX
	INT $0x80
parent:
	MOVQ AX, ret+0(FP)
	RET
