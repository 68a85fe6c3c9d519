package miniotest

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/testcert"
)

func TestSkipPolicy(t *testing.T) {
	for _, tc := range []struct {
		ci, skip string
		want     bool
	}{
		{"", "", false},
		{"", "1", true},
		{"true", "1", false}, // CI never skips
		{"true", "", false},
		{"", "yes", false},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv("STRATA_SKIP_MINIO", tc.skip)
		if got := skipRequested(); got != tc.want {
			t.Errorf("CI=%q STRATA_SKIP_MINIO=%q: skip = %v, want %v", tc.ci, tc.skip, got, tc.want)
		}
	}
	t.Setenv("CI", "")
	t.Setenv("STRATA_SKIP_MINIO", "1")
	if _, err := Launch(t.Context(), t.TempDir()); !errors.Is(err, ErrSkip) {
		t.Errorf("Launch with STRATA_SKIP_MINIO=1: %v, want ErrSkip", err)
	}
}

func TestMissingBinaryIsAClearError(t *testing.T) {
	t.Setenv("STRATA_MINIO_BIN", "/nonexistent/minio")
	if _, err := Binary(t.Context()); err == nil || !strings.Contains(err.Error(), "STRATA_MINIO_BIN") {
		t.Errorf("Binary with a missing STRATA_MINIO_BIN: %v", err)
	}
}

func TestStartServesAndStops(t *testing.T) {
	s := Start(t)
	resp, err := http.Get("http://" + s.Endpoint + "/minio/health/live")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live: %s", resp.Status)
	}
	b := s.NewBucket(t)
	if exists, err := s.client.BucketExists(t.Context(), b); err != nil || !exists {
		t.Fatalf("NewBucket(%s): exists %v, %v", b, exists, err)
	}
	if got := s.URL("minio"); got != "minio://"+s.Endpoint+"/strata-test?secure=false" {
		t.Errorf("URL(minio) = %q", got)
	}
	if got := s.URL("s3"); !strings.HasPrefix(got, "s3://strata-test?") || !strings.Contains(got, "path-style=true") {
		t.Errorf("URL(s3) = %q", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	select {
	case <-s.exited:
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if _, err := http.Get("http://" + s.Endpoint + "/minio/health/live"); err == nil {
		t.Fatal("the server still answers after Stop")
	}
}

func TestStartTLSServesHTTPSWithTheTestCA(t *testing.T) {
	certs := testcert.New(t, "unused")
	s := StartTLS(t, certs)
	if got, want := s.EndpointURL(), "https://"+s.Endpoint; got != want {
		t.Fatalf("EndpointURL = %q, want %q", got, want)
	}
	live := s.EndpointURL() + "/minio/health/live"
	resp, err := s.HTTPClient().Get(live)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("live over HTTPS: %s, TLS %v", resp.Status, resp.TLS != nil)
	}
	// A client without the CA must not get through.
	var verr *tls.CertificateVerificationError
	if _, err := (&http.Client{}).Get(live); !errors.As(err, &verr) {
		t.Fatalf("GET %s without the CA: %v, want a certificate verification error", live, err)
	}
	// Nor may plain HTTP.
	if resp, err := http.Get("http://" + s.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("the TLS server answers plain HTTP")
		}
	}
	b := s.NewBucket(t) // the admin client, over HTTPS
	if exists, err := s.client.BucketExists(t.Context(), b); err != nil || !exists {
		t.Fatalf("NewBucket(%s): exists %v, %v", b, exists, err)
	}
	if got := s.URL("minio"); got != "minio://"+s.Endpoint+"/strata-test" {
		t.Errorf("URL(minio) = %q", got)
	}
	if got := s.URL("s3"); !strings.Contains(got, "endpoint=https%3A%2F%2F"+strings.ReplaceAll(s.Endpoint, ":", "%3A")) {
		t.Errorf("URL(s3) = %q", got)
	}
	// Restart keeps TLS.
	if err := s.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, err = s.HTTPClient().Get(live)
	if err != nil {
		t.Fatalf("after Restart: %v", err)
	}
	resp.Body.Close()
}
