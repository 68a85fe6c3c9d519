package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// buildDir holds the strata binary the tests build; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain runs the tests and removes the build directory; it is separate
// from TestMain so that its defers run before os.Exit.
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "strata-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildDir = dir
	return m.Run()
}

// strataBinary returns the path of the strata binary, building
// ./cmd/strata on first use, or the binary named by STRATA_E2E_BINARY. A
// failed build fails every test that needs the binary.
//
// It runs inside a test rather than in TestMain because go test's result
// cache records only the files a test stats or opens while tests run: the
// build happens in a child process the cache cannot see, so this stats
// every source file of the module, and a changed broker reruns the tests.
func strataBinary(t testing.TB) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	return bin
}

var buildOnce = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("STRATA_E2E_BINARY"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("STRATA_E2E_BINARY: %w", err)
		}
		return bin, nil
	}
	if err := statModuleSources(".."); err != nil {
		return "", err
	}
	bin := filepath.Join(buildDir, "strata")
	// With failpoints: the crash tests arm them with STRATA_CRASH_AT.
	cmd := exec.Command(goTool(), "build", "-tags", "failpoints", "-o", bin, "github.com/strata-io/strata/cmd/strata")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
	}
	return bin, nil
})

// statModuleSources stats every Go source file and go.mod/go.sum under the
// module root, so that go test's cache keys the result on them.
func statModuleSources(root string) error {
	if !fileExists(filepath.Join(root, "go.mod")) {
		return fmt.Errorf("module root %s has no go.mod", root)
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			_, err := os.Stat(path)
			return err
		}
		return nil
	})
}

// goTool returns the go command of the toolchain that built this test, so
// that the broker is built with the same Go as the test.
func goTool() string {
	name := "go"
	if runtime.GOOS == "windows" {
		name = "go.exe"
	}
	root := os.Getenv("GOROOT")
	if root == "" {
		root = runtime.GOROOT() //nolint:staticcheck // SA1019: the toolchain that built the test is the one we want; PATH is the fallback.
	}
	if root != "" {
		if p := filepath.Join(root, "bin", name); fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
