package tlserr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-io/strata/objectstore/internal/tlserr"
)

func get(t *testing.T, client *http.Client, url string) error {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestIs(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(http.NotFoundHandler())
	defer plainSrv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"untrusted certificate", get(t, &http.Client{}, tlsSrv.URL), true},
		{"wrapped", fmt.Errorf("put %q: %w", "k", get(t, &http.Client{}, tlsSrv.URL)), true},
		{"wrong host name", get(t, tlsSrv.Client(), strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)), true},
		{"https to a plain HTTP server", get(t, &http.Client{}, strings.Replace(plainSrv.URL, "http:", "https:", 1)), true},
		{"trusted certificate", get(t, tlsSrv.Client(), tlsSrv.URL), false},
		{"connection refused", get(t, &http.Client{}, "https://"+closed), false},
		{"canceled", context.Canceled, false},
		{"other", errors.New("x509-ish words but no certificate error"), false},
		{"nil", nil, false},
	} {
		if got := tlserr.Is(tc.err); got != tc.want {
			t.Errorf("%s: Is(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
