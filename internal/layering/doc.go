// Package layering holds the test that keeps Strata's imports pointing down:
// cmd → broker → {tiering, locallog} → {index, cache, objectstore, batch}.
// It has no code of its own.
package layering
