package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"

	"github.com/strata-io/strata/broker"
)

// listenerFlags are the raw listener and TLS settings of `strata serve`.
type listenerFlags struct {
	listeners      []namedAddr // --listeners
	advertised     []namedAddr // --advertised-listeners
	protocols      map[string]broker.SecurityProtocol
	certFile       string
	keyFile        string
	clientCAFile   string
	clientAuth     tls.ClientAuthType
	clientAuthName string // as given: none, requested or required
}

// namedAddr is one NAME://host:port of a listener list.
type namedAddr struct {
	name string // upper case, as Kafka normalises listener names
	addr string
}

// clientAuthModes are the values of --tls-client-auth, Kafka's
// ssl.client.auth: requested verifies a certificate if the client gives
// one.
var clientAuthModes = map[string]tls.ClientAuthType{
	"none":      tls.NoClientCert,
	"requested": tls.VerifyClientCertIfGiven,
	"required":  tls.RequireAndVerifyClientCert,
}

// listenerName is what a listener name may hold.
var listenerName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// parseListenerList parses Kafka's listener syntax, NAME://host:port
// separated by commas; "" is the empty list. Advertised addresses need a
// host and a non-zero port.
func parseListenerList(s string, advertised bool) ([]namedAddr, error) {
	var out []namedAddr
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, addr, ok := strings.Cut(item, "://")
		if !ok || !listenerName.MatchString(name) {
			return nil, fmt.Errorf("invalid listener %q: want NAME://host:port, the name of letters, digits, _ and -", item)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("listener name %s repeats", name)
		}
		seen[name] = true
		if err := checkHostPort(addr, advertised); err != nil {
			return nil, fmt.Errorf("listener %s: %w", name, err)
		}
		out = append(out, namedAddr{name: name, addr: addr})
	}
	return out, nil
}

// parseProtocolMap parses Kafka's listener.security.protocol.map syntax,
// NAME:PROTOCOL separated by commas.
func parseProtocolMap(s string) (map[string]broker.SecurityProtocol, error) {
	m := map[string]broker.SecurityProtocol{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, proto, ok := strings.Cut(item, ":")
		if !ok || !listenerName.MatchString(name) {
			return nil, fmt.Errorf("invalid entry %q: want NAME:PROTOCOL", item)
		}
		name = strings.ToUpper(name)
		p := broker.SecurityProtocol(strings.ToUpper(strings.TrimSpace(proto)))
		if !p.Valid() {
			return nil, fmt.Errorf("listener %s: unknown security protocol %q, want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", name, proto)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("listener %s is mapped twice", name)
		}
		m[name] = p
	}
	return m, nil
}

// resolveListeners checks the listener and TLS settings against each
// other and fills o.Broker.Listeners (leaving Listen empty) when
// --listeners is given. where says where each option's value came from.
// Certificate and key files are read with readFile. SASL listeners are
// accepted here; the broker refuses them until SASL exists.
func resolveListeners(o *serveOptions, where map[string]string, readFile func(string) ([]byte, error)) error {
	lf := &o.listenerFlags
	from := func(name string) string { return fmt.Sprintf("%s (from %s)", name, where[name]) }
	if len(lf.listeners) == 0 {
		switch {
		case len(lf.advertised) > 0:
			return fmt.Errorf("%s: names listeners, but --listeners is not set (with --listen, use --advertised-addr)", from("advertised-listeners"))
		case len(lf.protocols) > 0:
			return fmt.Errorf("%s: maps listeners, but --listeners is not set", from("listener-security-protocol-map"))
		}
	} else {
		switch {
		case o.Broker.Listen != broker.DefaultListen:
			return fmt.Errorf("%s and %s: give one or the other; --listeners replaces --listen", from("listeners"), from("listen"))
		case o.Broker.AdvertisedAddr != "":
			return fmt.Errorf("%s and %s: with --listeners, use --advertised-listeners", from("listeners"), from("advertised-addr"))
		}
		advertised := map[string]string{}
		for _, a := range lf.advertised {
			if !containsListener(lf.listeners, a.name) {
				return fmt.Errorf("%s: listener %s is not in --listeners", from("advertised-listeners"), a.name)
			}
			advertised[a.name] = a.addr
		}
		ls := make([]broker.Listener, 0, len(lf.listeners))
		for _, l := range lf.listeners {
			p, ok := lf.protocols[l.name]
			if !ok {
				if p = broker.SecurityProtocol(l.name); !p.Valid() {
					return fmt.Errorf("%s: no security protocol for listener %s; add e.g. %s:SSL (a listener named PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL needs none)",
						from("listener-security-protocol-map"), l.name, l.name)
				}
			}
			ls = append(ls, broker.Listener{Name: l.name, Addr: l.addr, Advertised: advertised[l.name], Protocol: p})
		}
		o.Broker.Listen, o.Broker.Listeners = "", ls
	}

	var tlsUser string // a listener that needs TLS
	for _, l := range o.Broker.Listeners {
		if l.Protocol.TLS() {
			tlsUser = fmt.Sprintf("listener %s uses %s", l.Name, l.Protocol)
			break
		}
	}
	switch {
	case tlsUser != "" && (lf.certFile == "" || lf.keyFile == ""):
		return fmt.Errorf("tls-cert-file and tls-key-file are required: %s", tlsUser)
	case lf.certFile != "" && lf.keyFile == "":
		return fmt.Errorf("%s: needs --tls-key-file", from("tls-cert-file"))
	case lf.keyFile != "" && lf.certFile == "":
		return fmt.Errorf("%s: needs --tls-cert-file", from("tls-key-file"))
	case lf.clientAuth != tls.NoClientCert && lf.clientCAFile == "":
		return fmt.Errorf("%s: %s needs --tls-client-ca-file", from("tls-client-auth"), lf.clientAuthName)
	}
	if lf.certFile == "" {
		return nil
	}
	certPEM, err := readFile(lf.certFile)
	if err != nil {
		return fmt.Errorf("%s: %w", from("tls-cert-file"), err)
	}
	keyPEM, err := readFile(lf.keyFile)
	if err != nil {
		return fmt.Errorf("%s: %w", from("tls-key-file"), err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tls-cert-file %s and tls-key-file %s: %w", lf.certFile, lf.keyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   lf.clientAuth,
	}
	if lf.clientCAFile != "" {
		caPEM, err := readFile(lf.clientCAFile)
		if err != nil {
			return fmt.Errorf("%s: %w", from("tls-client-ca-file"), err)
		}
		cfg.ClientCAs = x509.NewCertPool()
		if !cfg.ClientCAs.AppendCertsFromPEM(caPEM) {
			return fmt.Errorf("%s: no PEM certificate in %s", from("tls-client-ca-file"), lf.clientCAFile)
		}
	}
	for i := range o.Broker.Listeners {
		if o.Broker.Listeners[i].Protocol.TLS() {
			o.Broker.Listeners[i].TLS = cfg
		}
	}
	return nil
}

func containsListener(ls []namedAddr, name string) bool {
	for _, l := range ls {
		if l.name == name {
			return true
		}
	}
	return false
}
