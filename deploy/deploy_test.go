package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"go.yaml.in/yaml/v3"

	"github.com/strata-io/strata/objectstore/bucketurl"
)

// root is the repository root, relative to this package's directory.
const root = ".."

// metric is one metric the broker exports.
type metric struct {
	labels    []string
	histogram bool // exported as _bucket, _sum and _count
}

// metrics lists every metric the broker exports (issue 6), with its labels.
var metrics = map[string]metric{
	"strata_requests_total":                        {labels: []string{"api"}},
	"strata_request_duration_seconds":              {labels: []string{"api"}, histogram: true},
	"strata_produce_bytes_total":                   {},
	"strata_produce_records_total":                 {},
	"strata_wal_fsync_seconds":                     {histogram: true},
	"strata_fetch_bytes_total":                     {},
	"strata_fetch_errors_total":                    {labels: []string{"cause"}},
	"strata_partition_log_start_offset":            {labels: []string{"topic", "partition"}},
	"strata_partition_remote_end_offset":           {labels: []string{"topic", "partition"}},
	"strata_partition_high_watermark":              {labels: []string{"topic", "partition"}},
	"strata_upload_lag_bytes":                      {labels: []string{"topic", "partition"}},
	"strata_upload_lag_seconds":                    {labels: []string{"topic", "partition"}},
	"strata_upload_segments_total":                 {},
	"strata_upload_bytes_total":                    {},
	"strata_upload_failures_total":                 {},
	"strata_upload_manifest_commits_total":         {},
	"strata_upload_manifest_commit_failures_total": {},
	"strata_cache_hits_total":                      {},
	"strata_cache_misses_total":                    {},
	"strata_cache_bytes":                           {},
	"strata_objectstore_requests_total":            {labels: []string{"op", "outcome"}},
	"strata_objectstore_request_duration_seconds":  {labels: []string{"op"}, histogram: true},
	"strata_consumer_group_lag":                    {labels: []string{"group", "topic", "partition"}},
	"strata_cost_requests_total":                   {labels: []string{"class", "topic"}},
	"strata_cost_stored_bytes":                     {labels: []string{"topic"}},
	"strata_cost_dollars":                          {labels: []string{"kind"}},
}

// lookupMetric finds the exported metric of a series name, mapping a
// histogram's _bucket, _sum and _count series to the histogram.
func lookupMetric(series string) (string, metric, bool) {
	if m, ok := metrics[series]; ok && !m.histogram {
		return series, m, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if m, known := metrics[base]; ok && known && m.histogram {
			return base, m, true
		}
	}
	return "", metric{}, false
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// decodeYAML decodes the single YAML document data into v, refusing keys
// that v does not have when strict.
func decodeYAML(data []byte, v any, strict bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(strict)
	return dec.Decode(v)
}

// The parts of docker-compose.yml the tests look at.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := decodeYAML(readFile(t, "docker-compose.yml"), &c, false); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// mountSource returns the host side of the compose volume whose container
// side is target.
func mountSource(s composeService, target string) (string, bool) {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0], true
		}
	}
	return "", false
}

func TestComposeRunsStrataOnMinIO(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"minio", "createbucket", "strata", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %q", name)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("service %s: no image", name)
			continue
		}
		_, tag, _ := strings.Cut(path.Base(s.Image), ":")
		if s.Build == nil && (tag == "" || tag == "latest") {
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts the undeclared volume %q", name, src)
			}
		}
	}

	s := c.Services["strata"]
	if s.Build == nil || s.Build.Context != "." || s.Build.Dockerfile != "deploy/docker/Dockerfile" {
		t.Errorf("strata is not built from deploy/docker/Dockerfile in the repository root: %+v", s.Build)
	}
	if got := s.DependsOn["createbucket"].Condition; got != "service_completed_successfully" {
		t.Errorf("strata starts on createbucket %q, want service_completed_successfully", got)
	}
	for name, want := range map[string]string{
		"listen":          "0.0.0.0:9092",
		"advertised-addr": "localhost:9092",
		"http-listen":     "0.0.0.0:9644",
	} {
		if got, _ := flagValue(s.Command, name); got != want {
			t.Errorf("strata --%s=%q, want %q", name, got, want)
		}
	}
	for _, p := range []string{"9092:9092", "9644:9644"} {
		if !slices.Contains(s.Ports, p) {
			t.Errorf("strata does not publish %s", p)
		}
	}

	// The bucket: an s3 URL to the MinIO service, with the bucket that
	// createbucket makes and MinIO's credentials in the environment.
	raw, _ := flagValue(s.Command, "bucket")
	loc, err := bucketurl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Scheme != bucketurl.S3 || loc.Endpoint != "http://minio:9000" || !loc.PathStyle || loc.Region == "" {
		t.Errorf("strata --bucket=%s: want an s3 URL with endpoint http://minio:9000, path-style=true and a region", raw)
	}
	mc := c.Services["createbucket"]
	if !strings.Contains(strings.Join(mc.Command, " "), "mc mb --ignore-existing local/"+loc.Bucket) {
		t.Errorf("createbucket does not create bucket %q: %q", loc.Bucket, mc.Command)
	}
	minio := c.Services["minio"]
	if s.Environment["AWS_ACCESS_KEY_ID"] != minio.Environment["MINIO_ROOT_USER"] ||
		s.Environment["AWS_SECRET_ACCESS_KEY"] != minio.Environment["MINIO_ROOT_PASSWORD"] ||
		s.Environment["AWS_ACCESS_KEY_ID"] == "" {
		t.Errorf("strata's AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not MinIO's root credentials")
	}
	if dir, _ := flagValue(s.Command, "data-dir"); dir == "" {
		t.Error("strata has no --data-dir")
	} else if _, ok := mountSource(s, dir); !ok {
		t.Errorf("strata's --data-dir %s is not a volume", dir)
	}

	// The flags are a valid strata configuration.
	checkConfig(t, nil, s.Command...)
}

func TestPrometheusScrapesStrata(t *testing.T) {
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := decodeYAML(readFile(t, "deploy/prometheus/prometheus.yml"), &cfg, false); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, "strata:9644") && sc.MetricsPath == "/metrics" {
				found = true
			}
		}
	}
	if !found {
		t.Error("prometheus.yml has no job scraping strata:9644/metrics")
	}

	c := loadCompose(t)
	p := c.Services["prometheus"]
	if src, ok := mountSource(p, "/etc/prometheus/prometheus.yml"); !ok || src != "./deploy/prometheus/prometheus.yml" {
		t.Errorf("compose does not mount deploy/prometheus/prometheus.yml into prometheus (%q)", src)
	}
	if got, _ := flagValue(p.Command, "config.file"); got != "/etc/prometheus/prometheus.yml" {
		t.Errorf("prometheus --config.file=%q", got)
	}
}

func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	g := c.Services["grafana"]
	if src, ok := mountSource(g, "/etc/grafana/provisioning"); !ok || src != "./deploy/grafana/provisioning" {
		t.Errorf("compose does not mount deploy/grafana/provisioning at /etc/grafana/provisioning (%q)", src)
	}

	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			IsDefault                    bool `yaml:"isDefault"`
			Editable                     bool
		} `yaml:"datasources"`
	}
	if err := decodeYAML(readFile(t, "deploy/grafana/provisioning/datasources/prometheus.yml"), &ds, true); err != nil {
		t.Fatalf("datasource provisioning: %v", err)
	}
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" ||
		ds.Datasources[0].URL != "http://prometheus:9090" || !ds.Datasources[0].IsDefault {
		t.Errorf("datasource provisioning: want one default prometheus data source at http://prometheus:9090, got %+v", ds)
	}

	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Folder, Type    string
			DisableDeletion       bool `yaml:"disableDeletion"`
			AllowUIUpdates        bool `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int  `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string
				FoldersFromFilesStructure bool `yaml:"foldersFromFilesStructure"`
			}
		} `yaml:"providers"`
	}
	if err := decodeYAML(readFile(t, "deploy/grafana/provisioning/dashboards/strata.yml"), &dp, true); err != nil {
		t.Fatalf("dashboard provisioning: %v", err)
	}
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" {
		t.Fatalf("dashboard provisioning: want one file provider, got %+v", dp)
	}
	dir := dp.Providers[0].Options.Path
	if src, ok := mountSource(g, dir); !ok || src != "./deploy/grafana/dashboards" {
		t.Errorf("the dashboard provider reads %s, where compose mounts %q, not ./deploy/grafana/dashboards", dir, src)
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != path.Join(dir, "strata.json") {
		t.Errorf("grafana's home dashboard %s is not %s", home, path.Join(dir, "strata.json"))
	}
}

// The parts of a Grafana dashboard the tests look at.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

var (
	// seriesRE matches a series name in PromQL.
	seriesRE = regexp.MustCompile(`\bstrata_[a-z0-9_]+`)
	// selectorRE matches a series with label matchers: name{...}.
	selectorRE = regexp.MustCompile(`\b(strata_[a-z0-9_]+)\{([^}]*)\}`)
	// matcherRE matches one label matcher's label name.
	matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

func TestDashboardQueriesExportedMetrics(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(readFile(t, "deploy/grafana/dashboards/strata.json"), &d); err != nil {
		t.Fatalf("strata.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both", d.UID, d.Title)
	}
	var exprs []string
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup {
				t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: want the data source ${datasource}", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q has an empty query", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)

	used := map[string]bool{}
	for _, e := range exprs {
		for _, series := range seriesRE.FindAllString(e, -1) {
			name, _, ok := lookupMetric(series)
			if !ok {
				t.Errorf("the dashboard queries %s, which the broker does not export: %s", series, e)
				continue
			}
			used[name] = true
		}
		for _, m := range selectorRE.FindAllStringSubmatch(e, -1) {
			_, met, ok := lookupMetric(m[1])
			if !ok {
				continue
			}
			for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
				label := lm[1]
				if !slices.Contains(met.labels, label) && !(label == "le" && strings.HasSuffix(m[1], "_bucket")) {
					t.Errorf("%s has no label %q: %s", m[1], label, e)
				}
			}
		}
	}
	for name := range metrics {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

func TestDockerfile(t *testing.T) {
	df := string(readFile(t, "deploy/docker/Dockerfile"))
	for _, want := range []string{
		"FROM golang:1.26 AS build",
		"CGO_ENABLED=0 go build -trimpath",
		"-X main.version=${VERSION}",
		"./cmd/strata",
		"USER 65532:65532",
		"EXPOSE 9092 9644",
		`VOLUME ["/var/lib/strata"]`,
		`ENTRYPOINT ["/usr/local/bin/strata", "serve"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 || !strings.HasPrefix(froms[len(froms)-1][1], "gcr.io/distroless/static") {
		t.Errorf("the final stage is not distroless/static: %q", froms)
	}
	// The default arguments are a valid configuration.
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("Dockerfile has no CMD in exec form")
	}
	var args []string
	if err := json.Unmarshal([]byte(m[1]), &args); err != nil {
		t.Fatalf("CMD: %v", err)
	}
	if dir, _ := flagValue(args, "data-dir"); dir != "/var/lib/strata" {
		t.Errorf("CMD --data-dir=%q, want the volume /var/lib/strata", dir)
	}
	checkConfig(t, nil, args...)

	// The build context keeps what the build needs.
	ignore := string(readFile(t, ".dockerignore"))
	for _, line := range strings.Split(ignore, "\n") {
		switch strings.TrimSpace(line) {
		case "go.mod", "go.sum", "cmd", "*", "**/*.go", "*.go":
			t.Errorf(".dockerignore excludes %q, which the build needs", line)
		}
	}
}

func TestExampleConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "deploy", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example configs in deploy/examples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			checkConfig(t, nil, "--config", f)
		})
	}
}

// chartDir is the Helm chart, relative to the repository root.
const chartDir = "deploy/helm/strata"

// release is the release the tests render the chart as.
var release = map[string]any{"Name": "demo", "Namespace": "streaming", "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1}

// renderChart renders the chart's templates with its values.yaml and then
// overrides on top, as `helm template` would, and returns each rendered
// file by template name. It implements the Helm-only functions the chart
// uses (include, toYaml, required, fail) over text/template and sprig, and
// fails on a missing value key where Helm would render nothing.
func renderChart(t *testing.T, overrides map[string]any) (map[string]string, error) {
	t.Helper()
	var meta struct {
		Name       string `yaml:"name"`
		Version    string `yaml:"version"`
		AppVersion string `yaml:"appVersion"`
	}
	if err := decodeYAML(readFile(t, chartDir+"/Chart.yaml"), &meta, false); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	var values map[string]any
	if err := decodeYAML(readFile(t, chartDir+"/values.yaml"), &values, false); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	mergeValues(values, overrides)
	// Helm's values went through JSON: numbers are float64.
	values = jsonRoundTrip(t, values)

	files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(chartDir), "templates", "*"))
	if err != nil {
		t.Fatal(err)
	}
	tpl := template.New("chart").Option("missingkey=error")
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["include"] = func(name string, data any) (string, error) {
		var b strings.Builder
		err := tpl.ExecuteTemplate(&b, name, data)
		return b.String(), err
	}
	funcs["toYaml"] = func(v any) string {
		var b strings.Builder
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return "" // as Helm
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	funcs["required"] = func(msg string, v any) (any, error) {
		if v == nil || v == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	tpl.Funcs(funcs)

	var names []string
	for _, f := range files {
		name := path.Join(meta.Name, "templates", filepath.Base(f))
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tpl.New(name).Parse(string(data)); err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		if !strings.HasPrefix(filepath.Base(f), "_") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := map[string]string{}
	for _, name := range names {
		top := map[string]any{
			"Values":   values,
			"Release":  release,
			"Chart":    map[string]any{"Name": meta.Name, "Version": meta.Version, "AppVersion": meta.AppVersion},
			"Template": map[string]any{"Name": name, "BasePath": path.Join(meta.Name, "templates")},
		}
		var b strings.Builder
		if err := tpl.ExecuteTemplate(&b, name, top); err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		out[name] = b.String()
	}
	return out, nil
}

// mergeValues sets src's values into dst, merging maps key by key.
func mergeValues(dst, src map[string]any) {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			mergeValues(dm, sm)
			continue
		}
		dst[k] = v
	}
}

func jsonRoundTrip(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// k8sObject is a rendered Kubernetes object, with the fields the tests read.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		// Service
		ClusterIP string         `yaml:"clusterIP"`
		Selector  map[string]any `yaml:"selector"`
		// StatefulSet
		ServiceName string `yaml:"serviceName"`
		Replicas    int    `yaml:"replicas"`
		Template    struct {
			Spec struct {
				SecurityContext struct {
					RunAsNonRoot bool  `yaml:"runAsNonRoot"`
					RunAsUser    int64 `yaml:"runAsUser"`
				} `yaml:"securityContext"`
				Containers []container `yaml:"containers"`
				Volumes    []struct {
					Name      string `yaml:"name"`
					ConfigMap struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		// ServiceMonitor
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

// parseManifests splits rendered templates into YAML documents and decodes
// each non-empty one; NOTES.txt is text, not a manifest.
func parseManifests(t *testing.T, rendered map[string]string) []k8sObject {
	t.Helper()
	var objs []k8sObject
	for name, text := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(text))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s does not render as YAML: %v\n%s", name, err, text)
			}
			if len(node.Content) == 0 || node.Content[0].Tag == "!!null" {
				continue // empty: a disabled template
			}
			var obj k8sObject
			if err := node.Decode(&obj); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, text)
			}
			if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
				t.Errorf("%s renders an object without apiVersion, kind or name:\n%s", name, text)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

func kinds(objs []k8sObject) map[string][]k8sObject {
	m := map[string][]k8sObject{}
	for _, o := range objs {
		m[o.Kind] = append(m[o.Kind], o)
	}
	return m
}

func TestHelmChartRenders(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		monitor   bool
	}{
		{"values.yaml", nil, false},
		{"s3 and ServiceMonitor", map[string]any{
			"config": map[string]any{
				"bucket":             "s3://my-strata-bucket/strata?region=eu-west-1",
				"default-partitions": 6,
				"advertised-addr":    "ignored:9092", // STRATA_ADVERTISED_ADDR decides
				"listen":             "127.0.0.1:1",  // the chart decides
			},
			"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "prometheus"}},
			"persistence":    map[string]any{"storageClassName": "gp3"},
			"extraEnv":       []any{map[string]any{"name": "AWS_REGION", "value": "eu-west-1"}},
			"serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/strata"}},
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rendered, err := renderChart(t, tc.overrides)
			if err != nil {
				t.Fatal(err)
			}
			byKind := kinds(parseManifests(t, rendered))
			if n := len(byKind["ServiceMonitor"]); (n == 1) != tc.monitor || n > 1 {
				t.Errorf("%d ServiceMonitors with serviceMonitor.enabled=%v", n, tc.monitor)
			}
			for kind, n := range map[string]int{"StatefulSet": 1, "Service": 2, "ConfigMap": 1, "ServiceAccount": 1} {
				if got := len(byKind[kind]); got != n {
					t.Errorf("%d objects of kind %s, want %d", got, kind, n)
				}
			}
			if len(byKind["StatefulSet"]) != 1 || len(byKind["ConfigMap"]) != 1 {
				t.FailNow()
			}
			checkStatefulSet(t, byKind["StatefulSet"][0], byKind["Service"], byKind["ConfigMap"][0], byKind["ServiceMonitor"])
		})
	}
}

// checkStatefulSet checks the broker's pod against the chart's Services and
// ConfigMap, and runs the config file through `strata serve --check-config`
// with the pod's environment.
func checkStatefulSet(t *testing.T, sts k8sObject, services []k8sObject, cm k8sObject, monitors []k8sObject) {
	t.Helper()
	var headless, client *k8sObject
	for i, s := range services {
		if s.Spec.ClusterIP == "None" {
			headless = &services[i]
		} else {
			client = &services[i]
		}
	}
	if headless == nil || client == nil {
		t.Fatal("want a headless and a client Service")
	}
	if sts.Spec.ServiceName != headless.Metadata.Name {
		t.Errorf("StatefulSet serviceName %q is not the headless Service %q", sts.Spec.ServiceName, headless.Metadata.Name)
	}
	if sts.Spec.Replicas != 1 {
		t.Errorf("replicas %d", sts.Spec.Replicas)
	}
	pod := sts.Spec.Template.Spec
	if !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot as uid 65532", pod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("the container may escalate privileges")
	}
	if len(c.Resources.Requests) == 0 {
		t.Error("the container requests no resources")
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		c.LivenessProbe.HTTPGet.Port != "http" || c.ReadinessProbe.HTTPGet.Port != "http" {
		t.Errorf("probes: liveness %+v, readiness %+v; want /healthz and /readyz on port http", c.LivenessProbe, c.ReadinessProbe)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["kafka"] != 9092 || ports["http"] != 9644 {
		t.Errorf("container ports %v", ports)
	}

	// --config names the ConfigMap's file.
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("container args %q do not pass --config", c.Args)
	}
	configPath := c.Args[i+1]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var cmVolume string
	for _, v := range pod.Volumes {
		if v.ConfigMap.Name == cm.Metadata.Name {
			cmVolume = v.Name
		}
	}
	text, ok := cm.Data[path.Base(configPath)]
	if cmVolume == "" || mounts[cmVolume] != path.Dir(configPath) || !ok {
		t.Fatalf("--config %s is not a key of ConfigMap %s mounted at %s", configPath, cm.Metadata.Name, path.Dir(configPath))
	}
	var cfg map[string]string
	if err := decodeYAML([]byte(text), &cfg, false); err != nil {
		t.Fatalf("the ConfigMap's config: %v\n%s", err, text)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || mounts[sts.Spec.VolumeClaimTemplates[0].Metadata.Name] != cfg["data-dir"] {
		t.Errorf("the data-dir %s is not the volumeClaimTemplate's mount", cfg["data-dir"])
	}
	if cfg["listen"] != "0.0.0.0:9092" || cfg["http-listen"] != "0.0.0.0:9644" {
		t.Errorf("config listens on %q and %q", cfg["listen"], cfg["http-listen"])
	}
	if _, ok := cfg["advertised-addr"]; ok {
		t.Error("the config file sets advertised-addr, which STRATA_ADVERTISED_ADDR overrides")
	}

	// The advertised address: the pod's name under the headless Service.
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom.FieldRef.FieldPath != "" {
			env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "fieldRef:metadata.name" || env["POD_NAMESPACE"] != "fieldRef:metadata.namespace" {
		t.Errorf("POD_NAME %q, POD_NAMESPACE %q: want the downward API", env["POD_NAME"], env["POD_NAMESPACE"])
	}
	addr := env["STRATA_ADVERTISED_ADDR"]
	if want := "$(POD_NAME)." + headless.Metadata.Name + ".$(POD_NAMESPACE).svc.cluster.local:9092"; addr != want {
		t.Errorf("STRATA_ADVERTISED_ADDR %q, want %q", addr, want)
	}
	// As the kubelet expands it for the first pod.
	addr = strings.NewReplacer("$(POD_NAME)", sts.Metadata.Name+"-0", "$(POD_NAMESPACE)", release["Namespace"].(string)).Replace(addr)

	for _, m := range monitors {
		if len(m.Spec.Endpoints) != 1 || m.Spec.Endpoints[0].Port != "http" || m.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v: want /metrics on port http", m.Spec.Endpoints)
		}
	}

	file := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out := checkConfig(t, []string{"STRATA_ADVERTISED_ADDR=" + addr}, "--config", file)
	if !strings.Contains(out, "advertised-addr: "+addr+" # env STRATA_ADVERTISED_ADDR") {
		t.Errorf("check-config does not take the advertised address from the environment:\n%s", out)
	}
}

func TestHelmChartRefusesSeveralWriters(t *testing.T) {
	_, err := renderChart(t, map[string]any{"replicaCount": 3})
	if err == nil || !strings.Contains(err.Error(), "replicaCount must be 1") {
		t.Errorf("replicaCount 3 rendered with error %v", err)
	}
}

// TestTerraformReferences stands in for `terraform validate`, which needs
// the AWS provider from the network: every var., local., resource and data
// source referenced is declared, every variable is used, and templatefile
// gets each variable its template uses.
func TestTerraformReferences(t *testing.T) {
	dir := filepath.Join(root, "deploy", "aws")
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in deploy/aws: %v", err)
	}
	var all strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(data)
		all.WriteByte('\n')
	}
	src := all.String()
	declared := func(re string) map[string]bool {
		m := map[string]bool{}
		for _, s := range regexp.MustCompile(re).FindAllStringSubmatch(src, -1) {
			m[strings.Join(s[1:], ".")] = true
		}
		return m
	}
	variables := declared(`(?m)^variable "([a-z0-9_]+)"`)
	resources := declared(`(?m)^resource "([a-z0-9_]+)" "([a-z0-9_]+)"`)
	data := declared(`(?m)^data "([a-z0-9_]+)" "([a-z0-9_]+)"`)
	locals := map[string]bool{}
	for _, block := range regexp.MustCompile(`(?ms)^locals \{\n(.*?)^\}`).FindAllStringSubmatch(src, -1) {
		for _, s := range regexp.MustCompile(`(?m)^  ([a-z0-9_]+)\s+=`).FindAllStringSubmatch(block[1], -1) {
			locals[s[1]] = true
		}
	}
	// Drop comments and descriptions, which mention names in prose.
	code := regexp.MustCompile(`(?m)^\s*#.*$|description\s*=\s*"(?:[^"\\]|\\.)*"`).ReplaceAllString(src, "")

	usedVars := map[string]bool{}
	for _, s := range regexp.MustCompile(`\bvar\.([a-z0-9_]+)`).FindAllStringSubmatch(code, -1) {
		usedVars[s[1]] = true
		if !variables[s[1]] {
			t.Errorf("var.%s is not declared", s[1])
		}
	}
	for v := range variables {
		if !usedVars[v] {
			t.Errorf("variable %q is never used", v)
		}
	}
	for _, s := range regexp.MustCompile(`\blocal\.([a-z0-9_]+)`).FindAllStringSubmatch(code, -1) {
		if !locals[s[1]] {
			t.Errorf("local.%s is not declared", s[1])
		}
	}
	for _, s := range regexp.MustCompile(`\bdata\.([a-z0-9_]+)\.([a-z0-9_]+)`).FindAllStringSubmatch(code, -1) {
		if !data[s[1]+"."+s[2]] {
			t.Errorf("data.%s.%s is not declared", s[1], s[2])
		}
	}
	for _, s := range regexp.MustCompile(`(?:^|[^.\w"])(aws_[a-z0-9_]+)\.([a-z0-9_]+)`).FindAllStringSubmatch(code, -1) {
		if !resources[s[1]+"."+s[2]] {
			t.Errorf("%s.%s is not declared", s[1], s[2])
		}
	}

	// templatefile("${path.module}/F", { k = … }) against ${k} in F.
	for _, m := range regexp.MustCompile(`(?s)templatefile\("\$\{path\.module\}/([^"]+)",\s*\{(.*?)\}\)`).FindAllStringSubmatch(code, -1) {
		given := map[string]bool{}
		for _, k := range regexp.MustCompile(`(?m)^\s*([a-z0-9_]+)\s*=`).FindAllStringSubmatch(m[2], -1) {
			given[k[1]] = true
		}
		tmpl, err := os.ReadFile(filepath.Join(dir, m[1]))
		if err != nil {
			t.Fatal(err)
		}
		// $${x} is a literal ${x}.
		for _, v := range regexp.MustCompile(`(?:^|[^$])\$\{([a-z0-9_]+)\}`).FindAllStringSubmatch(string(tmpl), -1) {
			if !given[v[1]] {
				t.Errorf("%s uses ${%s}, which templatefile does not pass", m[1], v[1])
			}
		}
	}
}

// binDir holds the strata binary once strataBinary has built it; TestMain
// removes it.
var binDir string

// strataBinary is the strata command built for the tests, once.
var strataBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "strata-deploy-test-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "strata")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/strata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/strata: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// checkConfig runs `strata serve --check-config args...` with env on top of
// an environment free of STRATA_ variables, fails the test unless it exits
// 0, and returns its output.
func checkConfig(t *testing.T, env []string, args ...string) string {
	t.Helper()
	bin, err := strataBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--check-config"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("strata serve --check-config %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
