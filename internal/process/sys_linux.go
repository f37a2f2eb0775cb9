package process

import "syscall"

// setParentDeathSignal has the kernel kill the plugin if the host dies
// (threat: plugins outliving a dead host, go-plugin #210).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
