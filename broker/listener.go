package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
)

// listener is one bound Kafka listener.
type listener struct {
	Listener              // as configured, Protocol filled in
	ln       net.Listener // closed by Run's shutdown or closeResources
	host     string       // advertised to the clients of this listener
	port     int32
}

// advertised returns the address Metadata, FindCoordinator and
// DescribeCluster give to the clients of l.
func (l *listener) advertised() (string, int32) { return l.host, l.port }

// validateListeners checks cfg.Listeners, or makes the one PLAINTEXT
// listener of Listen and AdvertisedAddr when there are none, and fills in
// each listener's protocol. It refuses SASL listeners, as SASL is not
// implemented yet: this is where SASL_PLAINTEXT and SASL_SSL listeners
// are to be accepted once Config can enable SASL mechanisms.
func (cfg *Config) validateListeners() error {
	if len(cfg.Listeners) == 0 {
		if cfg.Listen == "" {
			cfg.Listen = DefaultListen
		}
		l := Listener{Name: DefaultListenerName, Addr: cfg.Listen, Advertised: cfg.AdvertisedAddr, Protocol: ProtocolPlaintext}
		if len(cfg.SASLMechanisms) > 0 {
			// --sasl-mechanisms turns authentication on for the default
			// listener.
			l.Name, l.Protocol = string(ProtocolSASLPlaintext), ProtocolSASLPlaintext
		}
		cfg.Listeners = []Listener{l}
		return nil
	}
	if cfg.Listen != "" || cfg.AdvertisedAddr != "" {
		return errors.New("broker config: set Listeners or Listen and AdvertisedAddr, not both")
	}
	ls := make([]Listener, len(cfg.Listeners)) // a copy: the caller's slice stays as given
	seen := make(map[string]bool, len(ls))
	for i, l := range cfg.Listeners {
		switch {
		case l.Name == "":
			return fmt.Errorf("broker config: listener %d has no name", i)
		case seen[l.Name]:
			return fmt.Errorf("broker config: listener name %q repeats", l.Name)
		case l.Addr == "":
			return fmt.Errorf("broker config: listener %s has no address", l.Name)
		}
		seen[l.Name] = true
		if l.Protocol == "" {
			l.Protocol = SecurityProtocol(l.Name)
			if !l.Protocol.Valid() {
				return fmt.Errorf("broker config: listener %s has no security protocol", l.Name)
			}
		}
		switch {
		case !l.Protocol.Valid():
			return fmt.Errorf("broker config: listener %s: unknown security protocol %q, want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", l.Name, l.Protocol)
		case l.Protocol.SASL() && len(cfg.SASLMechanisms) == 0:
			return fmt.Errorf("broker config: listener %s uses %s, but no SASL mechanism is enabled (--sasl-mechanisms)", l.Name, l.Protocol)
		case l.Protocol.TLS() && (l.TLS == nil || len(l.TLS.Certificates) == 0 && l.TLS.GetCertificate == nil && l.TLS.GetConfigForClient == nil):
			return fmt.Errorf("broker config: listener %s uses %s and needs a TLS configuration with a certificate", l.Name, l.Protocol)
		}
		ls[i] = l
	}
	if len(cfg.SASLMechanisms) > 0 && !slices.ContainsFunc(ls, func(l Listener) bool { return l.Protocol.SASL() }) {
		return errors.New("broker config: SASL mechanisms are enabled (--sasl-mechanisms) but no listener uses SASL_PLAINTEXT or SASL_SSL")
	}
	cfg.Listeners = ls
	return nil
}

// listen binds every listener of cfg (validated) and works out their
// advertised addresses. On error it closes the ones it bound.
func listen(cfg *Config) (_ []*listener, err error) {
	var ls []*listener
	defer func() {
		if err != nil {
			for _, l := range ls {
				_ = l.ln.Close()
			}
		}
	}()
	for _, lc := range cfg.Listeners {
		l := &listener{Listener: lc}
		if l.ln, err = net.Listen("tcp", lc.Addr); err != nil {
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
		ls = append(ls, l)
		if l.host, l.port, err = advertisedAddr(lc.Addr, lc.Advertised, l.ln.Addr()); err != nil {
			return nil, fmt.Errorf("listener %s: %w", lc.Name, err)
		}
	}
	return ls, nil
}

// advertisedAddr returns the host and port clients are told to connect to:
// advertised, or else the host of addr and the port bound.
func advertisedAddr(addr, advertised string, bound net.Addr) (string, int32, error) {
	if advertised == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return "", 0, fmt.Errorf("listen address %q: %w", addr, err)
		}
		_, port, err := net.SplitHostPort(bound.String())
		if err != nil {
			return "", 0, err
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			// Listening on every interface: the host name is the best
			// guess at an address clients can reach.
			if host, err = os.Hostname(); err != nil {
				host = "localhost"
			}
		}
		advertised = net.JoinHostPort(host, port)
	}
	host, portStr, err := net.SplitHostPort(advertised)
	if err != nil {
		return "", 0, fmt.Errorf("advertised address %q: %w", advertised, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("advertised address %q: want host:port", advertised)
	}
	return host, int32(port), nil
}

// handshake runs the TLS handshake of a connection accepted on a TLS
// listener, bounded by the request timeout and by the connection's
// context, and sets the connection's principal from a verified client
// certificate. It runs on the connection's goroutine, not the accept loop.
func (c *conn) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.b.cfg.RequestTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	if chains := tc.ConnectionState().VerifiedChains; len(chains) > 0 && len(chains[0]) > 0 {
		// Kafka's default principal builder: the subject's RFC 2253 DN.
		c.principal = "User:" + chains[0][0].Subject.String()
	}
	return nil
}
