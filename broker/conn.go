package broker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

const (
	// maxInFlight bounds the requests of one connection that are read but
	// not yet answered. The reader stops reading when it is reached.
	maxInFlight = 32
	// maxInFlightFetches bounds the fetches among them: a fetch answer
	// can be as large as maxFetchBytes, and a client that sends fetches
	// without reading the answers must not make the broker hold dozens.
	// Kafka clients send one fetch at a time per connection.
	maxInFlightFetches = 2
	// keepWriteBuf is the largest response buffer a connection keeps
	// between responses while it has more to write; a larger one (a big
	// fetch) is dropped. keepIdleWriteBuf is the largest it keeps while it
	// waits for requests: an idle connection holds little memory, so that
	// thousands of them cost little.
	keepWriteBuf     = 1 << 20
	keepIdleWriteBuf = 4 << 10
	// readBufSize is small: a frame larger than it is read straight into
	// the frame's own buffer.
	readBufSize  = 4 << 10
	writeBufSize = 64 << 10
)

// writers holds the buffered writers of connections that are writing; an
// idle connection gives its writer back.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}

// conn is one client connection. Its reader goroutine reads, decodes and
// handles requests one by one, in order; a handler's waiting part (reply
// finish) runs on a goroutine of its own; the writer goroutine writes the
// answers in request order.
type conn struct {
	b        *Broker
	listener *listener // the listener that accepted the connection
	nc       net.Conn  // a *tls.Conn on a TLS listener
	host     string    // the client's IP, as group members report it
	logger   *slog.Logger
	// principal is who the client is: "User:" and the subject of a
	// verified TLS client certificate, else auth.Anonymous; on a SASL
	// listener the user it authenticated as. Set before the first request
	// is read, then only by the reader goroutine (SASL handlers run there),
	// as is sasl. Every request carries a copy.
	principal string
	sasl      saslState

	// The connection's contexts live as long as it does (like net/http's
	// per-connection context): ctx ends when the connection is torn down.
	ctx    context.Context
	cancel context.CancelFunc
	// pollCtx ends when draining starts or the connection is torn down.
	pollCtx   context.Context
	stopPolls context.CancelFunc
	draining  atomic.Bool

	queue      chan *inflight // reader → writer, in request order
	frameHdr   []byte         // the writer's buffer for fetchFrame's small fields
	fetchSlots chan struct{}  // one token per fetch read and not yet written
	waiters    sync.WaitGroup // finish goroutines
}

// inflight is a request whose answer the writer has yet to write.
type inflight struct {
	key   int16     // the request's API key
	at    time.Time // when the request was read
	corr  int32
	done  chan struct{} // closed when resp is final; nil if it was at once
	resp  kmsg.Response // nil: nothing to write (acks=0 produce)
	fetch bool          // holds one of the connection's fetchSlots
	// raw, if not nil, is written instead of resp as a bare size-prefixed
	// frame: a SASL token after a v0 handshake (sasl.go).
	raw []byte
}

// newConn prepares nc for serve. base carries the values of Run's context
// but not its cancellation: shutdown drains connections instead.
// On a TLS listener nc is wrapped in TLS here; the handshake waits for
// serve.
func newConn(base context.Context, b *Broker, l *listener, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(base)
	pollCtx, stopPolls := context.WithCancel(ctx)
	host := nc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	logger := b.logger.With("remote", nc.RemoteAddr().String())
	if len(b.listeners) > 1 {
		logger = logger.With("listener", l.Name)
	}
	if l.Protocol.TLS() {
		nc = tls.Server(nc, l.TLS)
	}
	c := &conn{
		b:          b,
		listener:   l,
		nc:         nc,
		host:       "/" + host,
		principal:  auth.Anonymous,
		logger:     logger,
		ctx:        ctx,
		cancel:     cancel,
		pollCtx:    pollCtx,
		stopPolls:  stopPolls,
		queue:      make(chan *inflight, maxInFlight),
		fetchSlots: make(chan struct{}, maxInFlightFetches),
	}
	if c.saslOn() {
		c.sasl.deadline = time.Now().Add(b.cfg.RequestTimeout)
	}
	return c
}

// serve runs the connection until the client goes away, sends something
// the protocol cannot answer, or the broker drains it. It returns after the
// connection's goroutines have exited and the socket is closed.
func (c *conn) serve() {
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(tc); err != nil {
			// A client speaking plaintext to a TLS port, a certificate
			// the client or broker rejects, a timeout or a drain.
			level := slog.LevelWarn
			if c.draining.Load() || errors.Is(err, io.EOF) {
				level = slog.LevelDebug // shutting down, or the client left first
			}
			c.logger.Log(c.ctx, level, "closing connection: TLS handshake failed", "err", err)
			c.abort()
			return
		}
		c.logger.Debug("TLS handshake done", "principal", c.principal)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()

	graceful := c.readLoop()
	if !graceful {
		c.abort()
	}
	close(c.queue)
	<-writerDone
	c.waiters.Wait()
	c.abort()
}

// abort tears the connection down at once: waits end, the socket closes.
func (c *conn) abort() {
	c.cancel()
	_ = c.nc.Close()
}

// drain makes the connection stop reading requests and answer the ones it
// has; long polls answer at once. serve returns once they are written.
func (c *conn) drain() {
	c.draining.Store(true)
	c.stopPolls()
	// Wake a reader blocked in Read; it sees draining and stops.
	_ = c.nc.SetReadDeadline(time.Now())
}

// readLoop reads and handles requests until it cannot go on. It reports
// whether it stopped gracefully (a drain), in which case the requests
// already read are still answered.
func (c *conn) readLoop() (graceful bool) {
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("panic serving connection; closing it", "panic", r, "stack", string(debug.Stack()))
			graceful = false
		}
	}()
	r := bufio.NewReaderSize(c.nc, readBufSize)
	inFrame := false
	started := func() {
		inFrame = true
		c.readWithin(c.b.cfg.RequestTimeout)
	}
	for {
		inFrame = false
		c.readWithin(c.b.cfg.IdleTimeout)
		minBytes, maxBytes := int32(minRequestHeader), c.b.cfg.MaxRequestBytes
		if c.sasl.raw {
			minBytes = 0
		}
		if c.saslOn() && !c.sasl.authenticated {
			maxBytes = min(maxBytes, maxUnauthenticatedFrame)
		}
		frame, err := readSizedFrame(r, minBytes, maxBytes, started)
		if err != nil {
			switch {
			case c.draining.Load():
				return true
			case errors.Is(err, os.ErrDeadlineExceeded) && !c.sasl.deadline.IsZero() && !c.sasl.authenticated && !time.Now().Before(c.sasl.deadline):
				c.logger.Warn("closing connection: authentication not completed in time", "timeout", c.b.cfg.RequestTimeout, "mechanism", c.sasl.mechanism)
			case inFrame && errors.Is(err, os.ErrDeadlineExceeded):
				c.logger.Warn("closing connection: request not received in time", "timeout", c.b.cfg.RequestTimeout, "err", err)
			case errors.Is(err, os.ErrDeadlineExceeded):
				c.logger.Debug("closing idle connection", "idle", c.b.cfg.IdleTimeout)
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
				// The client went away between requests.
				c.logger.Debug("connection closed by client")
			default:
				c.logger.Warn("closing connection: bad frame", "err", err)
			}
			return false
		}
		if c.sasl.raw {
			in, err := c.rawToken(frame)
			if err != nil {
				c.logger.Info("closing connection", "reason", err)
				return false
			}
			select {
			case c.queue <- in:
			case <-c.ctx.Done():
				return false
			}
			continue
		}
		// A fetch waits for a slot before it is read from the log.
		fetch := len(frame) >= 2 && int16(binary.BigEndian.Uint16(frame)) == int16(kmsg.Fetch)
		if fetch {
			select {
			case c.fetchSlots <- struct{}{}:
			case <-c.ctx.Done():
				return false
			}
		}
		in, closeAfter, err := c.handle(frame)
		if fetch {
			if in != nil {
				in.fetch = true
			} else {
				<-c.fetchSlots
			}
		}
		var closing *saslCloseError
		switch {
		case errors.As(err, &closing):
			c.logger.Info("closing connection", "reason", closing.reason)
			return false
		case err != nil:
			c.logger.Warn("closing connection: bad request", "err", err)
			return false
		}
		if in != nil {
			select {
			case c.queue <- in:
			case <-c.ctx.Done():
				return false
			}
		}
		if closeAfter {
			// After a failed acks=0 produce or a failed authentication:
			// the answers read so far are still written.
			c.logger.Info("closing connection after the request's answer", "api", kmsg.NameForKey(int16(binary.BigEndian.Uint16(frame))))
			return true
		}
	}
}

// readWithin sets the socket's read deadline d from now (none for a
// negative d), unless the connection is draining: drain's deadline, which
// wakes the reader, must stay. It checks after setting, so a drain that
// starts meanwhile still wins.
func (c *conn) readWithin(d time.Duration) {
	var t time.Time
	if d >= 0 {
		t = time.Now().Add(d)
	}
	if dl := c.sasl.deadline; !dl.IsZero() && !c.sasl.authenticated && (t.IsZero() || dl.Before(t)) {
		// Authentication must be done by its deadline.
		t = dl
	}
	_ = c.nc.SetReadDeadline(t)
	if c.draining.Load() {
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// handle decodes and handles one request frame. It returns what the writer
// must wait for and write, or an error if the connection must close.
func (c *conn) handle(frame []byte) (*inflight, bool, error) {
	hdr, kreq, err := decodeRequest(frame)
	if errors.Is(err, errBadVersion) && hdr.key == int16(kmsg.ApiVersions) {
		return &inflight{corr: hdr.corr, resp: unsupportedApiVersions()}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("client %q: %w", hdr.clientID, err)
	}
	if err := c.admit(hdr.key); err != nil {
		return nil, false, err
	}
	rc := &request{requestHeader: hdr, kreq: kreq, at: time.Now(), host: c.host, listener: c.listener, principal: c.principal, conn: c, ctx: c.ctx, pollCtx: c.pollCtx}
	if c.b.cfg.principalOf != nil {
		rc.principal = c.b.cfg.principalOf(hdr.clientID)
	}
	if c.b.onRequest != nil {
		c.b.onRequest(rc)
	}
	c.b.metrics.request(hdr.key)
	rep, err := lookupAPI(hdr.key).handle(c.b, rc)
	if err != nil {
		return nil, false, fmt.Errorf("client %q: %s v%d: %w", hdr.clientID, kmsg.NameForKey(hdr.key), hdr.version, err)
	}
	if rep.noResponse {
		c.b.metrics.answered(hdr.key, rc.at)
		return nil, rep.closeConn, nil
	}
	in := &inflight{key: hdr.key, at: rc.at, corr: hdr.corr, resp: rep.resp}
	if rep.finish != nil {
		in.done = make(chan struct{})
		c.waiters.Add(1)
		go func() {
			defer c.waiters.Done()
			defer func() {
				if r := recover(); r != nil {
					c.logger.Error("panic finishing request; closing connection", "api", kmsg.NameForKey(hdr.key), "panic", r, "stack", string(debug.Stack()))
					c.abort()
				}
			}()
			in.resp = rep.finish()
			close(in.done)
		}()
	}
	return in, rep.closeConn, nil
}

// writeLoop writes answers in request order until the queue is closed and
// empty or the connection is torn down.
func (c *conn) writeLoop() {
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("panic writing responses; closing connection", "panic", r, "stack", string(debug.Stack()))
			c.abort()
		}
	}()
	var w *bufio.Writer // from writers while there is something to write
	defer func() {
		if w != nil {
			w.Reset(nil)
			writers.Put(w)
		}
	}()
	var buf []byte
	for {
		var in *inflight
		select {
		case in = <-c.queue:
		default:
			// Nothing queued: push out what is buffered, give the
			// writer back, then wait.
			if w != nil {
				if err := w.Flush(); err != nil {
					c.abort()
					return
				}
				w.Reset(nil)
				writers.Put(w)
				w = nil
			}
			if cap(buf) > keepIdleWriteBuf {
				buf = nil
			}
			in = <-c.queue
		}
		if in == nil {
			if w != nil {
				_ = w.Flush()
			}
			return
		}
		if w == nil {
			w = writers.Get().(*bufio.Writer)
			w.Reset(c.nc)
		}
		if in.done != nil {
			select {
			case <-in.done:
			default:
				if err := w.Flush(); err != nil {
					c.abort()
					return
				}
				select {
				case <-in.done:
				case <-c.ctx.Done():
					return
				}
			}
		}
		if in.raw != nil {
			var size [frameSizeLen]byte
			binary.BigEndian.PutUint32(size[:], uint32(len(in.raw)))
			_, _ = w.Write(size[:])
			if _, err := w.Write(in.raw); err != nil {
				c.abort()
				return
			}
			continue
		}
		if in.resp == nil {
			continue
		}
		var err error
		if bufs, ok := c.fetchBuffers(in); ok {
			err = c.writeBuffers(w, bufs)
		} else {
			out := buf[:0]
			if n := sizeHint(in.resp); n > keepWriteBuf {
				out = make([]byte, 0, n+sizeHintSlack)
			}
			buf = appendResponse(out, in.corr, in.resp)
			_, err = w.Write(buf) // bufio.Writer never keeps buf itself
		}
		if err != nil {
			c.abort()
			return
		}
		if !in.at.IsZero() {
			c.b.metrics.answered(in.key, in.at)
		}
		if in.fetch {
			// Written (or buffered, at most writeBufSize of it, in the
			// writer's own buffer): the answer's memory is no longer
			// needed.
			in.resp = nil
			<-c.fetchSlots
		}
		if cap(buf) > keepWriteBuf {
			buf = nil
		}
	}
}

// fetchBuffers encodes in's answer for writeBuffers if it is a fetch answer
// with more record data than the writer's buffer holds: its frame as
// buffers that reference the record data where it lies, instead of a copy
// of it (see fetchAnswer and fetchFrame). It reports false for any other
// answer, which is encoded into one buffer.
func (c *conn) fetchBuffers(in *inflight) (net.Buffers, bool) {
	a, ok := in.resp.(*fetchAnswer)
	if !ok || a.recordBytes() < writeBufSize {
		return nil, false
	}
	bufs, hdr, ok := fetchFrame(c.frameHdr, in.corr, a.FetchResponse, a.records())
	if cap(hdr) <= keepIdleWriteBuf {
		c.frameHdr = hdr
	}
	return bufs, ok
}

// writeBuffers writes bufs after what w holds. On a TCP connection it
// flushes w and writes bufs with one vectored write (writev), so that the
// kernel copies the record data straight from where it lies; on a TLS
// connection, which encrypts from its own buffer anyway, it writes them
// through w.
func (c *conn) writeBuffers(w *bufio.Writer, bufs net.Buffers) error {
	if _, ok := c.nc.(*net.TCPConn); !ok {
		_, err := bufs.WriteTo(w)
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := bufs.WriteTo(c.nc)
	return err
}

// unsupportedApiVersions is the answer to an ApiVersions request of a
// version the broker does not know: a v0 response with UNSUPPORTED_VERSION
// and the ApiVersions range, from which the client picks a version to
// retry with (KIP-511).
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	a := lookupAPI(int16(kmsg.ApiVersions))
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{k}
	return resp
}
