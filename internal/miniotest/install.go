package miniotest

import (
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binary returns the path of the pinned minio binary: STRATA_MINIO_BIN if
// set, else <repo>/.tools/bin/minio, which it installs with go install if it
// is missing or of another version. Concurrent callers, also in other
// processes, wait for one install.
func Binary(ctx context.Context) (string, error) {
	if p := os.Getenv("STRATA_MINIO_BIN"); p != "" {
		if !fileExists(p) {
			return "", fmt.Errorf("STRATA_MINIO_BIN=%s does not exist", p)
		}
		return p, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, ".tools", "bin")
	bin := filepath.Join(binDir, "minio")
	if pinned(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o750); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(binDir, ".minio-install.lock"))
	if err != nil {
		return "", fmt.Errorf("lock the minio install: %w", err)
	}
	defer unlock()
	if pinned(bin) { // another process installed it while we waited
		return bin, nil
	}
	if err := install(ctx, binDir); err != nil {
		return "", err
	}
	if !pinned(bin) {
		return "", fmt.Errorf("go install of %s@%s left no matching binary at %s", Module, Version, bin)
	}
	return bin, nil
}

// pinned reports whether bin is a minio built from Module at Version.
func pinned(bin string) bool {
	info, err := buildinfo.ReadFile(bin)
	return err == nil && info.Main.Path == Module && info.Main.Version == Version
}

func install(ctx context.Context, binDir string) error {
	start := time.Now()
	fmt.Fprintf(os.Stderr, "miniotest: installing %s@%s into %s (takes a few minutes on 2 cores; later runs reuse it)\n", Module, Version, binDir)
	cmd := exec.CommandContext(ctx, goCommand(), "install", Module+"@"+Version)
	cmd.Dir = binDir // outside any module: go install pkg@version ignores it anyway
	// GOFLAGS of the test run (-race, -tags, -mod) are not for minio.
	env := []string{"GOBIN=" + binDir, "GOFLAGS="}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "GOBIN" && k != "GOFLAGS" {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		const max = 4000
		tail := string(out)
		if len(tail) > max {
			tail = "…" + tail[len(tail)-max:]
		}
		return fmt.Errorf("go install %s@%s failed after %v: %w\n%s\n(set STRATA_MINIO_BIN to a minio binary, or, outside CI, STRATA_SKIP_MINIO=1 to skip the MinIO tests)",
			Module, Version, time.Since(start).Round(time.Second), err, tail)
	}
	fmt.Fprintf(os.Stderr, "miniotest: installed minio in %v\n", time.Since(start).Round(time.Second))
	return nil
}

// repoRoot finds the directory of Strata's go.mod above the working
// directory (a test runs in its package's directory).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/strata-io/strata\n") {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("miniotest: no go.mod of github.com/strata-io/strata above the working directory")
		}
		dir = parent
	}
}
