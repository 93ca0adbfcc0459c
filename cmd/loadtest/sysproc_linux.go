package main

import "syscall"

// sysProcAttr makes the kernel kill a bot when the load command dies, so
// that no bot outlives it, whatever ends it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
