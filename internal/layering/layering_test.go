package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/strata-io/strata"

// allowed lists, for each package of ours, the packages of ours its non-test
// code may import. Packages not listed (cmd/strata, bench, e2e, internal/…)
// may import anything.
var allowed = map[string][]string{
	"index":       {},
	"cache":       {},
	"batch":       {},
	"objectstore": {},
	"auth":        {},
	"locallog":    {"index", "batch", "internal/failpoint"},
	"tiering":     {"index", "cache", "objectstore", "batch", "internal/failpoint"},
	"broker":      {"auth", "tiering", "locallog", "index", "cache", "objectstore", "batch", "internal/failpoint"},
	"history":     {"tiering", "objectstore", "batch"},
}

// wireOnly are the packages only broker (and what sits above it) may use:
// the Kafka wire protocol stays out of the storage layers.
var wireOnly = []string{"github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kgo", "github.com/twmb/franz-go/pkg/kerr"}

func TestImportsPointDown(t *testing.T) {
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gocmd, "list", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		top := strings.SplitN(rel, "/", 2)[0]
		ok, ruled := allowed[top]
		if !ruled {
			continue
		}
		for _, imp := range p.Imports {
			if top != "broker" {
				for _, w := range wireOnly {
					if imp == w {
						t.Errorf("%s imports %s: only broker speaks the Kafka wire protocol", rel, imp)
					}
				}
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			parts := strings.SplitN(strings.TrimPrefix(imp, module+"/"), "/", 3)
			dep := parts[0]
			if dep == "internal" && len(parts) > 1 {
				dep += "/" + parts[1] // internal packages are allowed one by one
			}
			if dep == top {
				continue // a package and its sub-packages (objectstore/s3 → objectstore)
			}
			if !contains(ok, dep) {
				t.Errorf("%s imports %s: %s may import only %v", rel, imp, top, ok)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if seen < 3 {
		t.Fatalf("go list saw %d packages; the check is not looking at the module", seen)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
