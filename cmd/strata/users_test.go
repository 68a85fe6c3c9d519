package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/locallog"
)

func runUsersT(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = runUsersCommand(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsersAddListDeleteAndBrokerAuthenticates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const password = "s3cret-pw-Qm2"
	if code, _, errOut := runUsersT(t, password+"\n", "add", "alice", "--password-stdin", "--mechanism", "SCRAM-SHA-256", "--data-dir", dir); code != exitOK {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runUsersT(t, password, "add", "alice", "--password-stdin", "--mechanism", "SCRAM-SHA-512", "--iterations", "8192", "--data-dir", dir); code != exitOK {
		t.Fatalf("add 512: exit %d: %s", code, errOut)
	}
	code, out, _ := runUsersT(t, "", "list", "--data-dir", dir)
	if code != exitOK || !strings.Contains(out, "alice\tSCRAM-SHA-256(iterations=4096) SCRAM-SHA-512(iterations=8192)") {
		t.Fatalf("list: exit %d: %q", code, out)
	}
	for _, f := range []string{filepath.Join(dir, "security", "users.json"), filepath.Join(dir, "bucket", "objects", "security", "users.json")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), password) {
			t.Fatalf("%s holds the password", f)
		}
	}

	// A broker started on the data directory knows alice; the CLI cannot
	// edit while it runs.
	b, err := broker.Open(context.Background(), broker.Config{
		Listen: "127.0.0.1:0", DataDir: dir, Fsync: locallog.FsyncPolicy{Mode: locallog.FsyncNever},
		SASLMechanisms: []string{"SCRAM-SHA-256"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.SASL(scram.Auth{User: "alice", Pass: password}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	pingCtx, pingCancel := context.WithTimeout(context.Background(), 30*time.Second)
	pingErr := cl.Ping(pingCtx)
	pingCancel()
	cl.Close()
	code, _, errOut := runUsersT(t, "x\n", "add", "bob", "--password-stdin", "--data-dir", dir)
	cancel()
	<-done
	_ = b.Close()
	if pingErr != nil {
		t.Fatalf("alice cannot authenticate: %v", pingErr)
	}
	if code == exitOK || !strings.Contains(errOut, "in use") {
		t.Fatalf("add while the broker runs: exit %d: %s", code, errOut)
	}

	// A wiped local document comes back from the bucket.
	if err := os.RemoveAll(filepath.Join(dir, "security")); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runUsersT(t, "", "list", "--data-dir", dir); code != exitOK || !strings.HasPrefix(out, "alice\t") {
		t.Fatalf("list after wipe: exit %d: %q", code, out)
	}

	if code, out, errOut := runUsersT(t, "", "delete", "alice", "--mechanism", "SCRAM-SHA-256", "--data-dir", dir); code != exitOK || !strings.Contains(out, "deleted SCRAM-SHA-256") {
		t.Fatalf("delete: exit %d: %s %s", code, out, errOut)
	}
	if code, _, _ := runUsersT(t, "", "delete", "alice", "--mechanism", "SCRAM-SHA-256", "--data-dir", dir); code != exitError {
		t.Fatalf("delete of a missing credential: exit %d", code)
	}
	if code, _, _ := runUsersT(t, "", "delete", "alice", "--data-dir", dir); code != exitOK {
		t.Fatalf("delete all: exit %d", code)
	}
	if code, out, _ := runUsersT(t, "", "list", "--data-dir", dir); code != exitOK || out != "" {
		t.Fatalf("list after deletes: exit %d: %q", code, out)
	}
}

func TestUsersAddRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"no password-stdin", "pw\n", []string{"add", "a", "--data-dir", dir}, "--password-stdin is required"},
		{"empty password", "\n", []string{"add", "a", "--password-stdin", "--data-dir", dir}, "empty password"},
		{"no stdin", "", []string{"add", "a", "--password-stdin", "--data-dir", dir}, "empty password"},
		{"plain", "pw\n", []string{"add", "a", "--password-stdin", "--mechanism", "PLAIN", "--data-dir", dir}, `--mechanism "PLAIN"`},
		{"iterations", "pw\n", []string{"add", "a", "--password-stdin", "--iterations", "100", "--data-dir", dir}, "--iterations 100"},
		{"no name", "pw\n", []string{"add", "--password-stdin", "--data-dir", dir}, "exactly one user NAME"},
		{"bad bucket", "pw\n", []string{"add", "a", "--password-stdin", "--data-dir", dir, "--bucket", "ftp://x"}, "ftp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runUsersT(t, tt.stdin, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q, want usage error containing %q", code, errOut, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "security")); err == nil {
		t.Fatal("a refused add wrote the users")
	}
}

func TestReadPasswordFirstLine(t *testing.T) {
	for in, want := range map[string]string{"pw\n": "pw", "pw\r\nmore\n": "pw", "pw": "pw", " spaced pw \n": " spaced pw "} {
		got, err := readPassword(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("readPassword(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := readPassword(io.LimitReader(strings.NewReader(""), 0)); err == nil {
		t.Error("empty stdin accepted")
	}
}
