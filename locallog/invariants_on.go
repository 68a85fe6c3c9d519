//go:build invariants

package locallog

// checkInvariants turns on the bound checks of checkLocked; `make test`
// builds with -tags invariants.
const checkInvariants = true
