package cache

import "errors"

// ErrClosed reports a GetOrLoad that missed after Close: the cache no longer
// starts loads.
var ErrClosed = errors.New("cache closed")
