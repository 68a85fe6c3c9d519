// Package bench holds Strata's performance benchmarks. They start an
// in-process Strata broker and, in the same run, franz-go's kfake cluster as
// the reference, and drive both with the same franz-go clients on loopback.
// Run them with `make bench`; results go to BENCHMARKS.md.
package bench
