package tlserr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
)

// Is reports whether err, or an error it wraps, says that the client could
// not set up TLS with the server because of how either is configured: the
// server's certificate is signed by an authority the client does not
// trust, names another host, is expired or otherwise invalid, or the
// server answered the handshake with something that is not TLS (an
// https:// endpoint that serves plain HTTP).
func Is(err error) bool {
	if err == nil {
		return false
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		notTLS   tls.RecordHeaderError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &notTLS) {
		return true
	}
	// net/http replaces the tls.RecordHeaderError of a server that answers
	// in plain HTTP with an error that has only this text.
	return strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}
