#include "textflag.h"

// func cloneThread(stack uintptr) uintptr
// Starts a thread (clone with CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|
// CLONE_THREAD|CLONE_SYSVSEM: no new process, so allowed without the spawn
// grant) that runs no Go code: it starts with every signal blocked and
// loops on pause(2) until the process ends. Returns the new thread's ID,
// or a negative errno.
TEXT ·cloneThread(SB),NOSPLIT,$16-16
	// Block every signal around the clone, which the new thread inherits:
	// the Go runtime's signal handler must never run on it.
	MOVQ $-1, 0(SP)
	MOVQ $14, AX      // rt_sigprocmask
	MOVQ $2, DI       // SIG_SETMASK
	LEAQ 0(SP), SI    // every signal
	LEAQ 8(SP), DX    // the old mask
	MOVQ $8, R10
	SYSCALL
	MOVQ $56, AX      // clone
	MOVQ $0x50f00, DI
	MOVQ stack+0(FP), SI
	MOVQ $0, DX
	MOVQ $0, R10
	MOVQ $0, R8
	SYSCALL
	CMPQ AX, $0
	JEQ child
	MOVQ AX, ret+8(FP)
	MOVQ $14, AX      // restore the old mask
	MOVQ $2, DI
	LEAQ 8(SP), SI
	MOVQ $0, DX
	MOVQ $8, R10
	SYSCALL
	RET
child:
	MOVQ $34, AX      // pause
	SYSCALL
	JMP child
