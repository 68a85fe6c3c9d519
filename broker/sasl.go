package broker

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
)

// SASL authentication, on listeners whose protocol is SASL_PLAINTEXT or
// SASL_SSL (Config.SASLMechanisms lists the mechanisms), as Kafka's
// SaslServerAuthenticator does it:
//
//   - A new connection is unauthenticated: it may send ApiVersions and
//     SaslHandshake only; anything else closes it. Authentication must be
//     done within Config.RequestTimeout of the connection's start.
//   - SaslHandshake names a mechanism. An unsupported or disabled one is
//     answered UNSUPPORTED_SASL_MECHANISM with the enabled list, and the
//     client may try another.
//   - After a v1 handshake, SaslAuthenticate requests carry the tokens of
//     the exchange (auth.Session). After a v0 handshake (old clients such
//     as kafka-python 2.0) the tokens travel as raw size-prefixed frames
//     with no request header, and so do the answers; PLAIN's success is an
//     empty frame.
//   - A failed exchange is answered SASL_AUTHENTICATION_FAILED (nothing on
//     the raw path) and the connection closes.
//   - With Config.ReauthMax, a session lasts that long (SaslAuthenticate
//     v1+ tells the client, KIP-368). After it, any request but
//     ApiVersions, SaslHandshake and SaslAuthenticate closes the
//     connection; re-authenticating, which must give the same principal,
//     starts a new session.
//
// All of this runs on the connection's reader goroutine, which handles one
// frame at a time, so the state below changes before the next frame is
// read. Nothing here logs a token, a password or a key: a failure logs the
// mechanism, the user name the client gave and the remote address.

// maxUnauthenticatedFrame bounds the frames of a connection that has not
// authenticated, like Kafka's sasl.server.max.receive.size.
const maxUnauthenticatedFrame = 512 << 10

// saslState is a connection's authentication. Only its reader goroutine
// touches it.
type saslState struct {
	authenticated bool
	mechanism     string       // of the exchange in progress or the last one
	session       auth.Session // the exchange in progress; nil between them
	raw           bool         // the next frame is a raw token (after a v0 handshake)
	user          string       // the user name the client gave, for logs
	deadline      time.Time    // before authentication: when it must be done
	expires       time.Time    // after: when the session ends; zero never
}

// saslCloseError closes a connection for the reason it wraps; the reader logs
// it.
type saslCloseError struct{ reason string }

func (e *saslCloseError) Error() string { return e.reason }

// saslOn reports whether the connection's listener authenticates clients
// with SASL (SASL_PLAINTEXT, SASL_SSL).
func (c *conn) saslOn() bool { return c.listener.Protocol.SASL() }

// admit decides, before a request of API key is handled, whether the
// connection may send it; an error closes the connection.
func (c *conn) admit(key int16) error {
	if !c.saslOn() {
		return nil
	}
	switch kmsg.Key(key) {
	case kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate:
		return nil
	}
	s := &c.sasl
	if !s.authenticated {
		return &saslCloseError{fmt.Sprintf("unexpected Kafka request of type %s during SASL handshake", kmsg.NameForKey(key))}
	}
	if !s.expires.IsZero() && time.Now().After(s.expires) {
		return &saslCloseError{fmt.Sprintf("expired session: %s request after the session of %s ended", kmsg.NameForKey(key), c.principal)}
	}
	return nil
}

// handleSaslHandshake starts an exchange for the mechanism the client
// names.
func (b *Broker) handleSaslHandshake(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = slices.Clone(b.cfg.SASLMechanisms)
	c := rc.conn
	s := &c.sasl
	switch {
	case !c.saslOn():
		// As on a Kafka PLAINTEXT or SSL listener.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return reply{resp: resp}, nil
	case !slices.Contains(b.cfg.SASLMechanisms, req.Mechanism):
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return reply{resp: resp}, nil
	case s.session != nil, s.authenticated && req.Version == 0:
		// A second handshake within an exchange, or a re-authentication
		// without SaslAuthenticate.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.logger.Warn("closing connection: unexpected SaslHandshake", "mechanism", req.Mechanism, "version", req.Version)
		return reply{resp: resp, closeConn: true}, nil
	}
	session, err := auth.NewSession(req.Mechanism, b.users)
	if err != nil { // SupportedMechanism was checked by setDefaults
		return reply{}, err
	}
	s.session, s.mechanism, s.user = session, req.Mechanism, ""
	s.raw = req.Version == 0
	return reply{resp: resp}, nil
}

// handleSaslAuthenticate takes one token of the exchange a v1 handshake
// started.
func (b *Broker) handleSaslAuthenticate(rc *request) (reply, error) {
	req := rc.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := rc.conn
	s := &c.sasl
	if !c.saslOn() || s.session == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate request received without a SaslHandshake"
		if s.authenticated || !c.saslOn() {
			msg = "SaslAuthenticate request received after successful authentication"
		}
		resp.ErrorMessage = &msg
		// An unauthenticated connection that skips the handshake closes.
		return reply{resp: resp, closeConn: c.saslOn() && !s.authenticated}, nil
	}
	out, _, err := c.saslStep(req.SASLAuthBytes, req.Version >= 1, resp)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return reply{resp: resp, closeConn: true}, nil
	}
	resp.SASLAuthBytes = out
	return reply{resp: resp}, nil
}

// saslStep feeds one client token to the exchange in progress and returns
// the server's answer. When the exchange completes it authenticates the
// connection and, if lifetime, sets resp's SessionLifetimeMillis (resp may
// be nil). An error is the Kafka message of a failed authentication: the
// exchange is over and the connection must close.
func (c *conn) saslStep(token []byte, lifetime bool, resp *kmsg.SASLAuthenticateResponse) ([]byte, bool, error) {
	s := &c.sasl
	if s.user == "" {
		s.user = saslUser(s.mechanism, token)
	}
	out, done, err := s.session.Step(token)
	if err == nil && done {
		err = c.authenticated(s.session.Principal())
		if err == nil && lifetime && resp != nil && c.b.cfg.ReauthMax > 0 {
			resp.SessionLifetimeMillis = c.b.cfg.ReauthMax.Milliseconds()
		}
	}
	if err != nil {
		s.session = nil
		s.raw = false
		c.b.metrics.saslAuthentication(s.mechanism, false)
		c.logger.Warn("authentication failed", "mechanism", s.mechanism, "user", s.user, "reauthentication", s.authenticated)
		return nil, true, fmt.Errorf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", s.mechanism) //nolint:staticcheck // Kafka's message, capitalized
	}
	if done {
		s.session = nil
		s.raw = false
	}
	return out, done, nil
}

// authenticated ends a successful exchange for principal: the connection
// is authenticated as it until the session expires. A re-authentication
// must keep the principal.
func (c *conn) authenticated(principal string) error {
	s := &c.sasl
	if s.authenticated && principal != c.principal {
		c.logger.Warn("re-authentication changed the principal", "from", c.principal, "to", principal)
		return fmt.Errorf("principal changed from %s to %s", c.principal, principal)
	}
	reauth := s.authenticated
	s.authenticated = true
	c.principal = principal
	if c.b.cfg.ReauthMax > 0 {
		s.expires = time.Now().Add(c.b.cfg.ReauthMax)
	}
	c.b.metrics.saslAuthentication(s.mechanism, true)
	if reauth {
		c.logger.Debug("re-authenticated", "principal", principal, "mechanism", s.mechanism)
	} else {
		c.logger.Debug("authenticated", "principal", principal, "mechanism", s.mechanism)
	}
	return nil
}

// rawToken handles one raw SASL token frame after a v0 handshake. It
// returns the raw answer to write, or an error if the connection must
// close (a failed authentication: Kafka sends nothing).
func (c *conn) rawToken(token []byte) (*inflight, error) {
	out, _, err := c.saslStep(token, false, nil)
	if err != nil {
		return nil, &saslCloseError{err.Error()}
	}
	if out == nil {
		out = []byte{}
	}
	return &inflight{raw: out}, nil
}

// saslUser extracts, for logs only, the user name of the first token of an
// exchange: PLAIN's authcid, or SCRAM's "n=" attribute. It never returns
// any other part of the token.
func saslUser(mechanism string, token []byte) string {
	var user string
	if mechanism == auth.Plain {
		parts := bytes.Split(token, []byte{0})
		if len(parts) == 3 {
			user = string(parts[1])
		}
	} else {
		for _, f := range strings.Split(string(token), ",") {
			if name, ok := strings.CutPrefix(f, "n="); ok {
				user = name
				break
			}
		}
	}
	const maxLogged = 128
	if len(user) > maxLogged {
		user = user[:maxLogged] + "…"
	}
	return user
}
