package main

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/internal/testcert"
)

// certFiles returns the contents of the test certificates' PEM files under
// the names cert.pem, key.pem and ca.pem.
func certFiles(t *testing.T) map[string]string {
	t.Helper()
	c := testcert.New(t, "client")
	files := map[string]string{}
	for name, path := range map[string]string{"cert.pem": c.ServerCertFile, "key.pem": c.ServerKeyFile, "ca.pem": c.CAFile} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	return files
}

func TestLoadServeOptionsListeners(t *testing.T) {
	files := certFiles(t)
	tlsArgs := []string{"--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		file       string            // c.yaml, loaded when not empty
		want       []broker.Listener // TLS compared as set or not
		clientAuth tls.ClientAuthType
	}{
		{name: "protocols from names",
			args: append([]string{"--listeners", "PLAINTEXT://localhost:9092, ssl://0.0.0.0:9093"}, tlsArgs...),
			want: []broker.Listener{
				{Name: "PLAINTEXT", Addr: "localhost:9092", Protocol: broker.ProtocolPlaintext},
				{Name: "SSL", Addr: "0.0.0.0:9093", Protocol: broker.ProtocolSSL, TLS: &tls.Config{}},
			}},
		{name: "map and advertised",
			args: append([]string{
				"--listeners", "INTERNAL://:9092,SECURE://[::]:9093",
				"--listener-security-protocol-map", "INTERNAL:PLAINTEXT,SECURE:ssl,UNUSED:SASL_SSL",
				"--advertised-listeners", "SECURE://broker.example:19093",
				"--tls-client-auth", "required", "--tls-client-ca-file", "ca.pem",
			}, tlsArgs...),
			want: []broker.Listener{
				{Name: "INTERNAL", Addr: ":9092", Protocol: broker.ProtocolPlaintext},
				{Name: "SECURE", Addr: "[::]:9093", Advertised: "broker.example:19093", Protocol: broker.ProtocolSSL, TLS: &tls.Config{}},
			},
			clientAuth: tls.RequireAndVerifyClientCert},
		{name: "env",
			env: map[string]string{
				"STRATA_LISTENERS":                      "A://127.0.0.1:0",
				"STRATA_LISTENER_SECURITY_PROTOCOL_MAP": "A:SSL",
				"STRATA_TLS_CERT_FILE":                  "cert.pem",
				"STRATA_TLS_KEY_FILE":                   "key.pem",
				"STRATA_TLS_CLIENT_CA_FILE":             "ca.pem",
				"STRATA_TLS_CLIENT_AUTH":                "requested",
			},
			want:       []broker.Listener{{Name: "A", Addr: "127.0.0.1:0", Protocol: broker.ProtocolSSL, TLS: &tls.Config{}}},
			clientAuth: tls.VerifyClientCertIfGiven},
		{name: "config file",
			file: "listeners: PLAINTEXT://:9092,SASL_PLAINTEXT://:9094\nadvertised-listeners: PLAINTEXT://h:9092\n",
			want: []broker.Listener{
				{Name: "PLAINTEXT", Addr: ":9092", Advertised: "h:9092", Protocol: broker.ProtocolPlaintext},
				{Name: "SASL_PLAINTEXT", Addr: ":9094", Protocol: broker.ProtocolSASLPlaintext},
			}},
		{name: "listen set to its default",
			args: []string{"--listen", broker.DefaultListen, "--listeners", "PLAINTEXT://:9092"},
			want: []broker.Listener{{Name: "PLAINTEXT", Addr: ":9092", Protocol: broker.ProtocolPlaintext}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			fs := map[string]string{}
			for k, v := range files {
				fs[k] = v
			}
			if tt.file != "" {
				args = append([]string{"--config", "c.yaml"}, args...)
				fs["c.yaml"] = tt.file
			}
			o, err := load(t, args, tt.env, fs)
			if err != nil {
				t.Fatal(err)
			}
			if o.Broker.Listen != "" || len(o.Broker.Listeners) != len(tt.want) {
				t.Fatalf("listen %q, listeners %+v; want none and %+v", o.Broker.Listen, o.Broker.Listeners, tt.want)
			}
			for i, got := range o.Broker.Listeners {
				w := tt.want[i]
				if got.Name != w.Name || got.Addr != w.Addr || got.Advertised != w.Advertised || got.Protocol != w.Protocol || (got.TLS == nil) != (w.TLS == nil) {
					t.Errorf("listener %d = %+v, want %+v", i, got, w)
				}
				if got.TLS == nil {
					continue
				}
				if got.TLS.MinVersion != tls.VersionTLS12 || len(got.TLS.Certificates) != 1 || got.TLS.ClientAuth != tt.clientAuth ||
					(got.TLS.ClientCAs == nil) != (tt.clientAuth == tls.NoClientCert) {
					t.Errorf("listener %s TLS: min version %x, %d certificates, client auth %v, client CAs %v", got.Name,
						got.TLS.MinVersion, len(got.TLS.Certificates), got.TLS.ClientAuth, got.TLS.ClientCAs != nil)
				}
			}
		})
	}

	// Without --listeners the broker makes its one listener of --listen.
	o, err := load(t, []string{"--listen", "127.0.0.1:0"}, nil, nil)
	if err != nil || o.Broker.Listen != "127.0.0.1:0" || o.Broker.Listeners != nil {
		t.Errorf("--listen only: %v, listen %q, listeners %+v", err, o.Broker.Listen, o.Broker.Listeners)
	}
}

func TestLoadServeOptionsListenerErrors(t *testing.T) {
	files := certFiles(t)
	files["garbage.pem"] = "not PEM"
	tlsArgs := []string{"--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
	}{
		{name: "listen and listeners", args: []string{"--listen", "127.0.0.1:9092", "--listeners", "PLAINTEXT://:9092"},
			wantErr: []string{"listeners (from flag --listeners) and listen (from flag --listen)", "give one or the other"}},
		{name: "listen from env and listeners", env: map[string]string{"STRATA_LISTEN": ":1"}, args: []string{"--listeners", "PLAINTEXT://:9092"},
			wantErr: []string{"listen (from env STRATA_LISTEN)"}},
		{name: "advertised addr and listeners", args: []string{"--advertised-addr", "h:1", "--listeners", "PLAINTEXT://:9092"},
			wantErr: []string{"advertised-addr (from flag --advertised-addr)", "--advertised-listeners"}},
		{name: "bad listener syntax", args: []string{"--listeners", "localhost:9092"},
			wantErr: []string{"listeners (from flag --listeners)", `invalid listener "localhost:9092"`, "NAME://host:port"}},
		{name: "bad listener port", args: []string{"--listeners", "PLAINTEXT://localhost:x"},
			wantErr: []string{"listeners (from flag --listeners)", "listener PLAINTEXT", "invalid port"}},
		{name: "repeated listener", args: []string{"--listeners", "PLAINTEXT://:1,plaintext://:2"},
			wantErr: []string{"listener name PLAINTEXT repeats"}},
		{name: "advertised without listeners", args: []string{"--advertised-listeners", "PLAINTEXT://h:1"},
			wantErr: []string{"advertised-listeners (from flag --advertised-listeners)", "--listeners is not set", "--advertised-addr"}},
		{name: "advertised port 0", args: []string{"--listeners", "PLAINTEXT://:0", "--advertised-listeners", "PLAINTEXT://h:0"},
			wantErr: []string{"advertised-listeners", "non-zero port"}},
		{name: "advertised unknown name", args: []string{"--listeners", "PLAINTEXT://:1", "--advertised-listeners", "OTHER://h:1"},
			wantErr: []string{"advertised-listeners (from flag --advertised-listeners)", "listener OTHER is not in --listeners"}},
		{name: "map without listeners", args: []string{"--listener-security-protocol-map", "A:SSL"},
			wantErr: []string{"listener-security-protocol-map (from flag", "--listeners is not set"}},
		{name: "map bad protocol", args: []string{"--listeners", "A://:1", "--listener-security-protocol-map", "A:TLS"},
			wantErr: []string{"listener-security-protocol-map (from flag", `unknown security protocol "TLS"`}},
		{name: "map bad syntax", args: []string{"--listener-security-protocol-map", "A=SSL"},
			wantErr: []string{"listener-security-protocol-map", `invalid entry "A=SSL"`}},
		{name: "no protocol", args: []string{"--listeners", "INTERNAL://:1"},
			wantErr: []string{"listener-security-protocol-map (from default)", "no security protocol for listener INTERNAL", "INTERNAL:SSL"}},
		{name: "ssl without cert", args: []string{"--listeners", "SSL://:1"},
			wantErr: []string{"tls-cert-file and tls-key-file are required", "listener SSL uses SSL"}},
		{name: "sasl_ssl without key", args: []string{"--listeners", "SASL_SSL://:1", "--tls-cert-file", "cert.pem"},
			wantErr: []string{"tls-cert-file and tls-key-file are required", "listener SASL_SSL uses SASL_SSL"}},
		{name: "cert without key", args: []string{"--tls-cert-file", "cert.pem"},
			wantErr: []string{"tls-cert-file (from flag --tls-cert-file): needs --tls-key-file"}},
		{name: "missing cert file", args: []string{"--listeners", "SSL://:1", "--tls-cert-file", "missing.pem", "--tls-key-file", "key.pem"},
			wantErr: []string{"tls-cert-file (from flag --tls-cert-file)", "missing.pem"}},
		{name: "key does not match", args: []string{"--listeners", "SSL://:1", "--tls-cert-file", "cert.pem", "--tls-key-file", "ca.pem"},
			wantErr: []string{"tls-cert-file cert.pem and tls-key-file ca.pem"}},
		{name: "bad client auth", args: append([]string{"--tls-client-auth", "want"}, tlsArgs...),
			wantErr: []string{"tls-client-auth (from flag --tls-client-auth)", `invalid mode "want"`}},
		{name: "client auth without CA", args: append([]string{"--listeners", "SSL://:1", "--tls-client-auth", "required"}, tlsArgs...),
			wantErr: []string{"tls-client-auth (from flag --tls-client-auth): required needs --tls-client-ca-file"}},
		{name: "client CA not PEM", args: append([]string{"--listeners", "SSL://:1", "--tls-client-auth", "requested", "--tls-client-ca-file", "garbage.pem"}, tlsArgs...),
			wantErr: []string{"tls-client-ca-file (from flag --tls-client-ca-file)", "no PEM certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.args, tt.env, files)
			if err == nil {
				t.Fatalf("no error, want one containing %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
