//go:build !linux

package main

import "syscall"

// sysProcAttr is nil off Linux: the bots are stopped by the load command.
func sysProcAttr() *syscall.SysProcAttr { return nil }
