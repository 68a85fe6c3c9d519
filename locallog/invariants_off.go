//go:build !invariants

package locallog

const checkInvariants = false
