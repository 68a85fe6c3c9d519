package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// validity is how long the certificates are valid, from an hour ago.
const validity = 24 * time.Hour

// Certs is a CA with a server and a client certificate it signed, and the
// PEM files holding them.
type Certs struct {
	Dir            string // the temporary directory holding the files
	CAFile         string // the CA certificate
	ServerCertFile string // the server certificate (localhost, 127.0.0.1, ::1)
	ServerKeyFile  string // its private key (PKCS #8)
	ClientCertFile string // the client certificate, subject CN=<clientCN>
	ClientKeyFile  string // its private key (PKCS #8)

	caPool *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

// New makes a CA, a server certificate and a client certificate whose
// subject is CN=clientCN, OU=strata-test, in a temporary directory of tb.
// It fails tb on any error.
func New(tb testing.TB, clientCN string) *Certs {
	tb.Helper()
	c, err := generate(tb.TempDir(), clientCN)
	if err != nil {
		tb.Fatalf("testcert: %v", err)
	}
	return c
}

func generate(dir, clientCN string) (*Certs, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "strata test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	c := &Certs{
		Dir:            dir,
		CAFile:         filepath.Join(dir, "ca.crt"),
		ServerCertFile: filepath.Join(dir, "server.crt"),
		ServerKeyFile:  filepath.Join(dir, "server.key"),
		ClientCertFile: filepath.Join(dir, "client.crt"),
		ClientKeyFile:  filepath.Join(dir, "client.key"),
		caPool:         x509.NewCertPool(),
	}
	c.caPool.AddCert(ca)
	if err := writePEM(c.CAFile, "CERTIFICATE", caDER); err != nil {
		return nil, err
	}
	leaf := func(tmpl *x509.Certificate, certFile, keyFile string) (tls.Certificate, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(validity)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return tls.Certificate{}, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return tls.Certificate{}, err
		}
		if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
			return tls.Certificate{}, err
		}
		if err := writePEM(keyFile, "PRIVATE KEY", keyDER); err != nil {
			return tls.Certificate{}, err
		}
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	c.server, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, c.ServerCertFile, c.ServerKeyFile)
	if err != nil {
		return nil, err
	}
	c.client, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: clientCN, OrganizationalUnit: []string{"strata-test"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, c.ClientCertFile, c.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CAPool returns a pool holding only the CA.
func (c *Certs) CAPool() *x509.CertPool { return c.caPool }

// ServerConfig returns a server configuration with the server certificate
// that verifies client certificates against the CA as clientAuth says.
func (c *Certs) ServerConfig(clientAuth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.server},
		ClientCAs:    c.caPool,
		ClientAuth:   clientAuth,
	}
}

// ClientConfig returns a client configuration that trusts the CA and
// presents no certificate.
func (c *Certs) ClientConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.caPool}
}

// ClientConfigWithCert returns ClientConfig presenting the client
// certificate.
func (c *Certs) ClientConfigWithCert() *tls.Config {
	cfg := c.ClientConfig()
	cfg.Certificates = []tls.Certificate{c.client}
	return cfg
}

// serial returns a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
