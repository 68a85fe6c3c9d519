//go:build !linux

package e2e

import "os/exec"

// dieWithParent does nothing where there is no parent-death signal; the
// test's cleanup still kills the child.
func dieWithParent(*exec.Cmd) {}
