// Package faulty wraps an objectstore.Bucket to inject faults in tests: fail
// the Nth call of an operation or a seeded fraction of calls, add latency,
// lose a conditional-write race (with or without a competing write), report
// a timeout for a write that did happen, and halt every call to simulate a
// crash. It imports only objectstore.
//
// Faults are rules added with Inject. Each call of the wrapped Bucket checks
// the rules in the order they were added; the first rule that fires decides
// what happens to the call (later rules are not consulted, but their
// counters still advance). A rule with Nth fires once, on the Nth call it
// matches after it was added, and is then spent; a rule with Rate fires on
// each matching call with that probability, drawn from the Bucket's seeded
// generator; a rule with neither fires on every matching call. With the
// same seed and the same sequence of calls, the same faults fire.
package faulty
