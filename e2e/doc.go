// Package e2e holds end-to-end tests that run the real `strata serve` binary
// as a child process on loopback and drive it with stock Kafka clients:
// franz-go, sarama, kcat (librdkafka), kafka-python and kafkajs.
//
// The package has no non-test code besides this comment. TestMain builds
// ./cmd/strata once into a temporary directory (or uses the binary named by
// STRATA_E2E_BINARY); every test starts its own broker on free loopback
// ports with a data directory under t.TempDir, and waits for GET /readyz
// before it talks Kafka. Tests that need an external client (kcat,
// /usr/bin/python3 with kafka-python, /usr/bin/node with npm for kafkajs,
// which the tests install into <repo>/.tools/kafkajs) skip loudly when it is
// missing, and fail when CI=true, because .ci/run installs them there.
//
// Synchronisation is by polling with a deadline, never by sleeping: every
// wait in this package is bounded and reports what it was waiting for.
package e2e
