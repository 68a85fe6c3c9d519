package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
)

// TestMain lets a test run this binary as `strata` in a child process.
func TestMain(m *testing.M) {
	if os.Getenv("STRATA_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestRunVersionAndUsage(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{[]string{"version"}, exitOK, "strata dev (go", ""},
		{[]string{"help"}, exitOK, "Usage: strata <command>", ""},
		{nil, exitUsage, "", "Usage: strata <command>"},
		{[]string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{[]string{"serve", "--segment-bytes", "x"}, exitUsage, "", `strata serve: segment-bytes (from flag --segment-bytes): invalid size "x"`},
		{[]string{"serve", "-h"}, exitOK, "", "Usage: strata serve"},
		{[]string{"serve", "--check-config", "--listen", "127.0.0.1:0"}, exitOK, "listen: 127.0.0.1:0 # flag", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(t.Context(), tt.args, &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					code, stdout.String(), stderr.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

// serve answers HTTP while the broker runs and returns nil once its context
// is cancelled.
func TestServeStopsCleanlyOnCancel(t *testing.T) {
	o, err := load(t, []string{"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, o, slog.New(slog.NewTextHandler(io.Discard, nil)), func(_, httpAddr string) { started <- httpAddr })
	}()
	var httpAddr string
	select {
	case httpAddr = <-started:
	case err := <-done:
		t.Fatalf("serve returned before starting: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("broker did not start within 30s")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	// The broker turns ready once Run starts serving, just after started.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := client.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d 30s after the broker opened", resp.StatusCode)
		}
	}
	bodies := map[string]string{}
	for _, path := range []string{"/healthz", "/readyz", "/v1/partitions", "/v1/groups", "/v1/cost", "/metrics"} {
		resp, err := client.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s = %d, %v, want 200", path, resp.StatusCode, err)
		}
		bodies[path] = string(body)
	}
	// The embedded default has a bucket (a local directory), so the cost
	// estimate counts the requests of recovery (cluster.json at least),
	// priced at the default prices, and the metrics include every family.
	var cost broker.CostReport
	if err := json.Unmarshal([]byte(bodies["/v1/cost"]), &cost); err != nil {
		t.Errorf("/v1/cost: %v in %q", err, bodies["/v1/cost"])
	}
	if cost.Prices != broker.DefaultPrices || cost.Total.Requests["get"]+cost.Total.Requests["put"] == 0 {
		t.Errorf("/v1/cost = %+v, want default prices and the requests of recovery", cost)
	}
	for _, family := range []string{"strata_requests_total", "strata_objectstore_requests_total", "strata_cost_dollars", "go_goroutines"} {
		if !strings.Contains(bodies["/metrics"], "\n"+family) {
			t.Errorf("/metrics has no %s", family)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve = %v, want nil after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30s of cancel")
	}
}

// A `strata serve` process exits 0 soon after SIGTERM.
func TestServeProcessExitsZeroOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--log-format", "json")
	cmd.Env = append(os.Environ(), "STRATA_TEST_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }() // the process has exited already unless the test failed

	lines := make(chan map[string]any)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec = map[string]any{"msg": "unparsed: " + sc.Text()}
			}
			lines <- rec
		}
	}()
	var log []string
	waitFor := func(msg string) map[string]any {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case rec, ok := <-lines:
				if !ok {
					t.Fatalf("process stopped logging before %q; log:\n%s", msg, strings.Join(log, "\n"))
				}
				log = append(log, fmt.Sprint(rec))
				if rec["msg"] == msg {
					return rec
				}
			case <-deadline:
				t.Fatalf("no %q within 30s; log:\n%s", msg, strings.Join(log, "\n"))
			}
		}
	}
	waitFor("kafka listener bound")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor("strata stopped")
	for range lines { // drain until the pipe closes
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v; log:\n%s", err, strings.Join(log, "\n"))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit within 10s of SIGTERM")
	}
}
