//go:build linux

package miniotest

import "syscall"

// sysProcAttr kills the server when the test process dies, so a test
// binary killed by its timeout leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
