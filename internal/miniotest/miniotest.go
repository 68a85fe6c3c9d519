package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-io/strata/internal/testcert"
)

// Module and Version pin the MinIO server the tests run.
const (
	Module  = "github.com/minio/minio"
	Version = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

// Region is the region the server reports.
const Region = "us-east-1"

// ErrSkip is returned by Launch when STRATA_SKIP_MINIO=1 asks to skip
// (outside CI).
var ErrSkip = errors.New("miniotest: MinIO tests skipped by STRATA_SKIP_MINIO=1")

// Server is a running MinIO server on a loopback port.
type Server struct {
	// Endpoint is the server's host:port.
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Bucket is a bucket created at start.
	Bucket string
	// Dir holds the server's data, its certs directory and its log
	// (minio.log).
	Dir string
	// StartupTime is how long the server took to be live with its bucket
	// (not counting an install).
	StartupTime time.Duration

	certs      *testcert.Certs // nil: the server speaks plain HTTP
	httpClient *http.Client    // trusts certs' CA, if any
	client     *minio.Client
	cmd        *exec.Cmd
	exited     chan struct{} // closed when the process has exited
	log        *lockedBuffer
	stop       sync.Once
	seq        atomic.Int64
	newCmd     func() (*exec.Cmd, *os.File, error) // the server's command and its open log file
}

// Start starts a server for tb, with its data in a temporary directory, and
// stops it in tb.Cleanup. It fails tb if the server cannot be started, or
// skips it under the package's skip policy.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return start(tb, nil)
}

// StartTLS is Start for a server that serves HTTPS, and only HTTPS, with
// certs' server certificate (valid for localhost, 127.0.0.1 and ::1). The
// server itself trusts certs' CA; clients must be given it (EndpointURL,
// HTTPClient).
func StartTLS(tb testing.TB, certs *testcert.Certs) *Server {
	tb.Helper()
	return start(tb, certs)
}

func start(tb testing.TB, certs *testcert.Certs) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 25*time.Minute)
	defer cancel()
	begin := time.Now()
	s, err := launchWith(ctx, tb.TempDir(), certs)
	if errors.Is(err, ErrSkip) {
		tb.Skipf("SKIPPING a test that needs MinIO: %v", err)
	}
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	tb.Logf("miniotest: minio at %s, live in %v (%v with the binary lookup or install)",
		s.EndpointURL(), s.StartupTime.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("miniotest: %v", err)
		}
	})
	return s
}

// Launch starts a server with its data under dir (which must exist), for
// callers without a testing.TB such as TestMain; the caller calls Stop. It
// returns ErrSkip under the skip policy.
func Launch(ctx context.Context, dir string) (*Server, error) {
	return launchWith(ctx, dir, nil)
}

// launchWith is Launch, serving HTTPS with certs unless certs is nil.
func launchWith(ctx context.Context, dir string, certs *testcert.Certs) (*Server, error) {
	if skipRequested() {
		return nil, ErrSkip
	}
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	var lastErr error
	// A free port found by listening can be taken by another process before
	// MinIO binds it; try again with new ports.
	for range 3 {
		s, err := launch(ctx, bin, dir, certs)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func skipRequested() bool {
	if os.Getenv("CI") == "true" {
		return false // CI never skips
	}
	return os.Getenv("STRATA_SKIP_MINIO") == "1"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(ctx context.Context, bin, dir string, certs *testcert.Certs) (_ *Server, err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp(dir, "minio-data-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:   fmt.Sprintf("127.0.0.1:%d", port),
		AccessKey:  "strata" + randomHex(4),
		SecretKey:  randomHex(16),
		Bucket:     "strata-test",
		Dir:        dataDir,
		certs:      certs,
		httpClient: &http.Client{},
		exited:     make(chan struct{}),
		log:        &lockedBuffer{},
	}
	// The server always gets a certs directory of its own, so that one in
	// the user's ~/.minio/certs never turns a plain server into a TLS one.
	certsDir := filepath.Join(dataDir, "certs")
	if err := os.MkdirAll(filepath.Join(certsDir, "CAs"), 0o700); err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if certs != nil {
		// MinIO serves HTTPS when its certs directory holds public.crt and
		// private.key; it trusts the CAs in certs/CAs for its own calls.
		for src, dst := range map[string]string{
			certs.ServerCertFile: "public.crt",
			certs.ServerKeyFile:  "private.key",
			certs.CAFile:         filepath.Join("CAs", "ca.crt"),
		} {
			if err := copyFile(src, filepath.Join(certsDir, dst)); err != nil {
				return nil, err
			}
		}
		transport.TLSClientConfig = certs.ClientConfig()
	}
	s.httpClient.Transport = transport
	s.newCmd = func() (*exec.Cmd, *os.File, error) {
		logFile, err := os.OpenFile(filepath.Join(dataDir, "minio.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(bin, "server", filepath.Join(dataDir, "data"),
			"--address", s.Endpoint,
			"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort),
			"--certs-dir", certsDir,
			"--quiet")
		cmd.Env = append(os.Environ(),
			"MINIO_ROOT_USER="+s.AccessKey,
			"MINIO_ROOT_PASSWORD="+s.SecretKey,
			"MINIO_BROWSER=off",
			"MINIO_UPDATE=off",
			"MINIO_CI_CD=1",
		)
		cmd.Stdout = io.MultiWriter(logFile, s.log)
		cmd.Stderr = cmd.Stdout
		cmd.SysProcAttr = sysProcAttr()
		return cmd, logFile, nil
	}
	start := time.Now()
	if err := s.startCmd(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	if err := s.waitLive(ctx, time.Minute); err != nil {
		return nil, err
	}
	s.client, err = minio.New(s.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:    Region,
		Secure:    certs != nil,
		Transport: transport,
	})
	if err != nil {
		return nil, err
	}
	if err := s.makeBucket(ctx, s.Bucket, time.Minute); err != nil {
		return nil, err
	}
	s.StartupTime = time.Since(start)
	return s, nil
}

// waitLive polls the liveness endpoint until it answers 200, the process
// exits, or the deadline passes.
func (s *Server) waitLive(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	live := s.EndpointURL() + "/minio/health/live"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, live, nil)
		resp, err := s.httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited before it was live: %v\n%s", s.cmd.ProcessState, s.log.String())
		case <-ctx.Done():
			return fmt.Errorf("minio not live at %s within %v: %w\n%s", live, within, ctx.Err(), s.log.String())
		case <-tick.C:
		}
	}
}

// makeBucket creates bucket, retrying while the server is still
// initializing.
func (s *Server) makeBucket(ctx context.Context, bucket string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: Region})
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited: %v\n%s", s.cmd.ProcessState, s.log.String())
		case <-ctx.Done():
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		case <-tick.C:
		}
	}
}

// NewBucket creates a new, empty bucket with a unique name and returns the
// name.
func (s *Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("strata-test-%d-%s", s.seq.Add(1), randomHex(3))
	if err := s.makeBucket(tb.Context(), name, time.Minute); err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	return name
}

// TLS reports whether the server serves HTTPS (StartTLS).
func (s *Server) TLS() bool { return s.certs != nil }

// EndpointURL returns the server's base URL: https://127.0.0.1:port for a
// server started with StartTLS, else http://127.0.0.1:port.
func (s *Server) EndpointURL() string {
	if s.TLS() {
		return "https://" + s.Endpoint
	}
	return "http://" + s.Endpoint
}

// HTTPClient returns a client for the server's own endpoints (health,
// admin) that trusts the CA of a TLS server, and only it.
func (s *Server) HTTPClient() *http.Client { return s.httpClient }

// URL returns the bucket URL of s's Bucket for kind "s3" or "minio", as
// bucketurl.Open parses it. Credentials are not in it: see Env.
func (s *Server) URL(kind string) string {
	return s.BucketURL(kind, s.Bucket, "")
}

// BucketURL returns the URL of kind "s3" or "minio" for bucket and a key
// prefix ("" for none). For a TLS server the s3 URL has an https://
// endpoint and the minio URL relies on secure's default (true); the URL's
// user must trust the CA (SSL_CERT_FILE, for instance).
func (s *Server) BucketURL(kind, bucket, prefix string) string {
	path := bucket
	if prefix != "" {
		path += "/" + prefix
	}
	switch kind {
	case "s3":
		q := url.Values{"endpoint": {s.EndpointURL()}, "region": {Region}, "path-style": {"true"}}
		return "s3://" + path + "?" + q.Encode()
	case "minio":
		if s.TLS() {
			return "minio://" + s.Endpoint + "/" + path
		}
		return "minio://" + s.Endpoint + "/" + path + "?secure=false"
	}
	panic(fmt.Sprintf("miniotest: unknown URL kind %q (want s3 or minio)", kind))
}

// Env returns the environment variables that hand s's credentials to the
// standard AWS chain, for a child process or os.Setenv in TestMain.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=" + Region,
	}
}

// Setenv sets Env's variables for the rest of tb (tb must not be
// parallel), and clears the AWS settings that would override them.
func (s *Server) Setenv(tb testing.TB) {
	tb.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		tb.Setenv(k, v)
	}
	for _, k := range []string{"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		tb.Setenv(k, "")
	}
}

// Log returns what the server has printed so far.
func (s *Server) Log() string { return s.log.String() }

// Restart stops the server, if it runs, and starts it again on the same
// address, credentials and data, as an operator restarting a store after
// an outage would; it returns once the server is live again.
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	s.stop = sync.Once{}
	s.exited = make(chan struct{})
	if err := s.startCmd(); err != nil {
		return fmt.Errorf("restart minio: %w", err)
	}
	return s.waitLive(ctx, time.Minute)
}

// startCmd starts the server process; s.exited closes when it exits.
func (s *Server) startCmd() error {
	cmd, logFile, err := s.newCmd()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	s.cmd = cmd
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}(s.exited)
	return nil
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited within
// ten seconds. It is idempotent.
func (s *Server) Stop() error {
	var err error
	s.stop.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-s.exited:
		case <-t.C:
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("minio did not stop on SIGTERM within 10s; killed")
		}
	})
	return err
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; don't grow without bound
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// goCommand returns the go command of the toolchain running the tests.
func goCommand() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o600)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
