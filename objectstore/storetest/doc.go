// Package storetest is the conformance suite of objectstore.Bucket: every
// backend's tests call Run, so that tiering may rely on one behaviour
// whichever store is configured. It imports only objectstore (and testing).
package storetest
