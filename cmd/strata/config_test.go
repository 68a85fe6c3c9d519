package main

import (
	"errors"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/objectstore"
)

// load runs loadServeOptions against a fake environment and file system.
func load(t *testing.T, args []string, env map[string]string, files map[string]string) (serveOptions, error) {
	t.Helper()
	lookupEnv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	readFile := func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
	return loadServeOptions(args, lookupEnv, readFile, io.Discard)
}

func TestLoadServeOptionsDefaults(t *testing.T) {
	o, err := load(t, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Config{
		Listen:            broker.DefaultListen,
		DataDir:           "./data",
		AutoCreateTopics:  true,
		DefaultPartitions: 1,
		SegmentBytes:      broker.DefaultSegmentBytes,
		SegmentMs:         broker.DefaultSegmentMs,
		Fsync:             locallog.FsyncPolicy{Mode: locallog.FsyncAlways},
		MaxRequestBytes:   broker.DefaultMaxRequestBytes,
		PollInterval:      broker.DefaultPollInterval,
		Prices:            broker.DefaultPrices,
		IdleTimeout:       broker.DefaultIdleTimeout,
		RequestTimeout:    broker.DefaultRequestTimeout,
		LocalBudgetBytes:  broker.DefaultLocalBudgetBytes,
		SweepInterval:     broker.DefaultSweepInterval,
		OrphanAge:         broker.DefaultOrphanAge,
		BucketTimeout:     objectstore.DefaultAttemptTimeout,

		OffsetsRetention:           broker.DefaultOffsetsRetention,
		GroupInitialRebalanceDelay: broker.DefaultGroupInitialRebalanceDelay,
	}
	wantBucket, err := filepath.Abs("data/bucket")
	if err != nil {
		t.Fatal(err)
	}
	want.Bucket = "file://" + filepath.ToSlash(wantBucket)
	if !reflect.DeepEqual(o.Broker, want) {
		t.Errorf("broker config = %+v, want %+v", o.Broker, want)
	}
	if o.HTTPListen != "localhost:9644" || o.LogFormat != "text" || o.LogLevel != slog.LevelInfo || o.ConfigFile != "" || o.CheckConfig {
		t.Errorf("options = %+v", o)
	}
	for _, s := range o.Settings {
		if s.Source != "default" {
			t.Errorf("%s comes from %s, want default", s.Name, s.Source)
		}
	}
}

func TestLoadServeOptionsPrecedence(t *testing.T) {
	const file = "listen: file:1\ndata-dir: /file\nhttp-listen: file:2\nsegment-bytes: 3000\n"
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantListen string
		wantDir    string
		wantHTTP   string
		wantSeg    int64
		wantSource string // of listen
	}{
		{
			name:       "file over default",
			args:       []string{"--config", "c.yaml"},
			wantListen: "file:1", wantDir: "/file", wantHTTP: "file:2", wantSeg: 3000,
			wantSource: "config file",
		},
		{
			name:       "env over file",
			args:       []string{"--config", "c.yaml"},
			env:        map[string]string{"STRATA_LISTEN": "env:1", "STRATA_SEGMENT_BYTES": "4KiB"},
			wantListen: "env:1", wantDir: "/file", wantHTTP: "file:2", wantSeg: 4096,
			wantSource: "env STRATA_LISTEN",
		},
		{
			name:       "flag over env",
			args:       []string{"--config", "c.yaml", "--listen", "flag:1", "-segment-bytes=5000"},
			env:        map[string]string{"STRATA_LISTEN": "env:1", "STRATA_DATA_DIR": "/env", "STRATA_SEGMENT_BYTES": "4KiB"},
			wantListen: "flag:1", wantDir: "/env", wantHTTP: "file:2", wantSeg: 5000,
			wantSource: "flag",
		},
		{
			name:       "config file from env",
			env:        map[string]string{"STRATA_CONFIG": "c.yaml"},
			wantListen: "file:1", wantDir: "/file", wantHTTP: "file:2", wantSeg: 3000,
			wantSource: "config file",
		},
		{
			name:       "empty env counts as unset",
			args:       []string{"--config", "c.yaml"},
			env:        map[string]string{"STRATA_LISTEN": ""},
			wantListen: "file:1", wantDir: "/file", wantHTTP: "file:2", wantSeg: 3000,
			wantSource: "config file",
		},
		{
			name:       "no file",
			env:        map[string]string{"STRATA_HTTP_LISTEN": "env:2"},
			wantListen: broker.DefaultListen, wantDir: "./data", wantHTTP: "env:2", wantSeg: broker.DefaultSegmentBytes,
			wantSource: "default",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := load(t, tt.args, tt.env, map[string]string{"c.yaml": file})
			if err != nil {
				t.Fatal(err)
			}
			if o.Broker.Listen != tt.wantListen || o.Broker.DataDir != tt.wantDir || o.HTTPListen != tt.wantHTTP || o.Broker.SegmentBytes != tt.wantSeg {
				t.Errorf("listen %q, data-dir %q, http-listen %q, segment-bytes %d; want %q, %q, %q, %d",
					o.Broker.Listen, o.Broker.DataDir, o.HTTPListen, o.Broker.SegmentBytes,
					tt.wantListen, tt.wantDir, tt.wantHTTP, tt.wantSeg)
			}
			if got := o.Settings[0]; got.Name != "listen" || got.Source != tt.wantSource {
				t.Errorf("first setting = %+v, want listen from %s", got, tt.wantSource)
			}
		})
	}
}

func TestLoadServeOptionsValues(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(serveOptions) bool
	}{
		{"bool flag without value", []string{"--auto-create-topics=false", "--auto-create-topics"}, nil,
			func(o serveOptions) bool { return o.Broker.AutoCreateTopics }},
		{"bool flag false", []string{"--auto-create-topics=false"}, nil,
			func(o serveOptions) bool { return !o.Broker.AutoCreateTopics }},
		{"bool env", nil, map[string]string{"STRATA_AUTO_CREATE_TOPICS": "false"},
			func(o serveOptions) bool { return !o.Broker.AutoCreateTopics }},
		{"partitions", []string{"--default-partitions", "8"}, nil,
			func(o serveOptions) bool { return o.Broker.DefaultPartitions == 8 }},
		{"segment bytes plain", []string{"--segment-bytes", "1048576"}, nil,
			func(o serveOptions) bool { return o.Broker.SegmentBytes == 1<<20 }},
		{"segment bytes MiB", []string{"--segment-bytes", "64MiB"}, nil,
			func(o serveOptions) bool { return o.Broker.SegmentBytes == 64<<20 }},
		{"segment bytes GiB", []string{"--segment-bytes", "1GiB"}, nil,
			func(o serveOptions) bool { return o.Broker.SegmentBytes == 1<<30 }},
		{"segment ms duration", []string{"--segment-ms", "90s"}, nil,
			func(o serveOptions) bool { return o.Broker.SegmentMs == 90*time.Second }},
		{"segment ms millis", []string{"--segment-ms", "1500"}, nil,
			func(o serveOptions) bool { return o.Broker.SegmentMs == 1500*time.Millisecond }},
		{"fsync interval", []string{"--fsync", "interval:5ms"}, nil,
			func(o serveOptions) bool {
				return o.Broker.Fsync == locallog.FsyncPolicy{Mode: locallog.FsyncInterval, Interval: 5 * time.Millisecond}
			}},
		{"fsync never", nil, map[string]string{"STRATA_FSYNC": "never"},
			func(o serveOptions) bool { return o.Broker.Fsync.Mode == locallog.FsyncNever }},
		{"max request bytes", []string{"--max-request-bytes", "1MiB"}, nil,
			func(o serveOptions) bool { return o.Broker.MaxRequestBytes == 1<<20 }},
		{"advertised", []string{"--advertised-addr", "broker.example:19092"}, nil,
			func(o serveOptions) bool { return o.Broker.AdvertisedAddr == "broker.example:19092" }},
		{"listen any interface, any port", []string{"--listen", ":0", "--http-listen", "127.0.0.1:0"}, nil,
			func(o serveOptions) bool { return o.Broker.Listen == ":0" && o.HTTPListen == "127.0.0.1:0" }},
		{"ipv6 listen", []string{"--listen", "[::1]:9092"}, nil,
			func(o serveOptions) bool { return o.Broker.Listen == "[::1]:9092" }},
		{"log", []string{"--log-format", "json", "--log-level", "debug"}, nil,
			func(o serveOptions) bool { return o.LogFormat == "json" && o.LogLevel == slog.LevelDebug }},
		{"check config", []string{"--check-config"}, nil,
			func(o serveOptions) bool { return o.CheckConfig }},
		{"bucket default under data dir", []string{"--data-dir", "/srv/strata"}, nil,
			func(o serveOptions) bool { return o.Broker.Bucket == "file:///srv/strata/bucket" }},
		{"bucket flag", []string{"--bucket", "s3://strata-test/p?region=eu-west-1"}, nil,
			func(o serveOptions) bool { return o.Broker.Bucket == "s3://strata-test/p?region=eu-west-1" }},
		{"bucket env", nil, map[string]string{"STRATA_BUCKET": "minio://localhost:9000/strata-test?secure=false"},
			func(o serveOptions) bool { return o.Broker.Bucket == "minio://localhost:9000/strata-test?secure=false" }},
		{"local budget flag", []string{"--local-budget-bytes", "2GiB"}, nil,
			func(o serveOptions) bool { return o.Broker.LocalBudgetBytes == 2<<30 }},
		{"local budget unlimited env", nil, map[string]string{"STRATA_LOCAL_BUDGET_BYTES": "-1"},
			func(o serveOptions) bool { return o.Broker.LocalBudgetBytes == -1 }},
		{"sasl flags", []string{"--sasl-mechanisms", "SCRAM-SHA-256, PLAIN", "--super-users", "admin,User:ops", "--connections-max-reauth", "15m"}, nil,
			func(o serveOptions) bool {
				return strings.Join(o.Broker.SASLMechanisms, ",") == "SCRAM-SHA-256,PLAIN" &&
					strings.Join(o.Broker.SuperUsers, ",") == "admin,User:ops" && o.Broker.ReauthMax == 15*time.Minute
			}},
		{"sasl env", nil, map[string]string{"STRATA_SASL_MECHANISMS": "SCRAM-SHA-512", "STRATA_SUPER_USERS": "root", "STRATA_CONNECTIONS_MAX_REAUTH": "60000"},
			func(o serveOptions) bool {
				return strings.Join(o.Broker.SASLMechanisms, ",") == "SCRAM-SHA-512" &&
					strings.Join(o.Broker.SuperUsers, ",") == "root" && o.Broker.ReauthMax == time.Minute
			}},
		{"sasl off by default", nil, nil,
			func(o serveOptions) bool {
				return o.Broker.SASLMechanisms == nil && o.Broker.SuperUsers == nil && o.Broker.ReauthMax == 0
			}},
		{"sweep settings", []string{"--sweep-interval", "30s", "--orphan-age", "2h"}, map[string]string{"STRATA_ORPHAN_AGE": "3h"},
			func(o serveOptions) bool {
				return o.Broker.SweepInterval == 30*time.Second && o.Broker.OrphanAge == 2*time.Hour
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := load(t, tt.args, tt.env, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("unexpected options %+v", o)
			}
		})
	}
}

func TestLoadServeOptionsErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string // contents of c.yaml, used with --config c.yaml
		wantErr []string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantErr: []string{"no-such-flag"}},
		{name: "positional argument", args: []string{"extra"}, wantErr: []string{`unexpected argument "extra"`}},
		{name: "missing config file", args: []string{"--config", "missing.yaml"}, wantErr: []string{"read config", "missing.yaml"}},
		{name: "bad segment bytes flag", args: []string{"--segment-bytes", "big"},
			wantErr: []string{"segment-bytes", "flag --segment-bytes", `invalid size "big"`}},
		{name: "bucket with credentials", args: []string{"--bucket", "s3://key:secret@strata-test/p"}, wantErr: []string{"bucket", "flag --bucket"}},
		{name: "negative segment bytes", args: []string{"--segment-bytes", "-1"}, wantErr: []string{`invalid size "-1"`}},
		{name: "segment bytes over int32", args: []string{"--segment-bytes", "2GiB"}, wantErr: []string{`"2GiB" is too large`}},
		{name: "max request bytes over int32", args: []string{"--max-request-bytes", "4294967296"}, wantErr: []string{"too large"}},
		{name: "max request bytes too small", args: []string{"--max-request-bytes", "100"}, wantErr: []string{`"100" is too small`}},
		{name: "segment bytes too small", args: []string{"--segment-bytes", "13"}, wantErr: []string{`"13" is too small`}},
		{name: "local budget too small", args: []string{"--local-budget-bytes", "1KiB"}, wantErr: []string{"local-budget-bytes", `"1KiB" is too small`}},
		{name: "local budget other negative", args: []string{"--local-budget-bytes", "-2"}, wantErr: []string{`invalid size "-2"`, "-1 for unlimited"}},
		{name: "sweep interval too short", args: []string{"--sweep-interval", "10ms"}, wantErr: []string{"sweep-interval", "minimum is 1s"}},
		{name: "orphan age too short", env: map[string]string{"STRATA_ORPHAN_AGE": "30s"}, wantErr: []string{"orphan-age", "env STRATA_ORPHAN_AGE", "minimum is 1m"}},
		{name: "too many partitions", args: []string{"--default-partitions", "10001"}, wantErr: []string{"from 1 to 10000"}},
		{name: "sub-millisecond segment ms", args: []string{"--segment-ms", "500us"}, wantErr: []string{`invalid duration "500us"`}},
		{name: "bad partitions env", env: map[string]string{"STRATA_DEFAULT_PARTITIONS": "0"},
			wantErr: []string{"default-partitions", "env STRATA_DEFAULT_PARTITIONS", `invalid partition count "0"`}},
		{name: "bad bool", args: []string{"--auto-create-topics=maybe"}, wantErr: []string{`invalid boolean "maybe"`}},
		{name: "bad duration", args: []string{"--segment-ms", "soon"}, wantErr: []string{`invalid duration "soon"`}},
		{name: "zero duration", args: []string{"--segment-ms", "0s"}, wantErr: []string{`invalid duration "0s"`}},
		{name: "bad fsync", args: []string{"--fsync", "sometimes"}, wantErr: []string{"fsync (from flag --fsync)", "sometimes"}},
		{name: "bad listen", args: []string{"--listen", "localhost"}, wantErr: []string{`invalid address "localhost"`}},
		{name: "bad port", args: []string{"--http-listen", "localhost:http"}, wantErr: []string{"invalid port"}},
		{name: "advertised needs host and port", args: []string{"--advertised-addr", ":0"}, wantErr: []string{"non-zero port"}},
		{name: "empty data dir", args: []string{"--data-dir="}, wantErr: []string{"data-dir", "must not be empty"}},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: []string{`invalid log format "xml"`}},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: []string{`invalid log level "loud"`}},
		{name: "unknown SASL mechanism", args: []string{"--sasl-mechanisms", "SCRAM-SHA-256,GSSAPI"}, wantErr: []string{"sasl-mechanisms", `unsupported SASL mechanism "GSSAPI"`}},
		{name: "mechanism case", env: map[string]string{"STRATA_SASL_MECHANISMS": "plain"}, wantErr: []string{"env STRATA_SASL_MECHANISMS", `"plain"`}},
		{name: "empty mechanism", args: []string{"--sasl-mechanisms", "PLAIN,,SCRAM-SHA-256"}, wantErr: []string{"empty item"}},
		{name: "repeated super-user", args: []string{"--super-users", "a,a"}, wantErr: []string{"super-users", `"a" is listed twice`}},
		{name: "reauth too short", args: []string{"--connections-max-reauth", "10ms"}, wantErr: []string{"connections-max-reauth", "minimum is 1s"}},
		{name: "sasl in file", file: "sasl-mechanisms: SCRAM-SHA-256,NOPE\n", wantErr: []string{"sasl-mechanisms (from c.yaml line 1)", `"NOPE"`}},
		{name: "unknown config key", file: "listen: a:1\nlisten-addr: b:2\n",
			wantErr: []string{"config c.yaml", "line 2", `unknown key "listen-addr"`, "known keys: listen,"}},
		{name: "config key in snake case", file: "data_dir: /x\n", wantErr: []string{`unknown key "data_dir"`}},
		{name: "config key config", file: "config: other.yaml\n", wantErr: []string{`unknown key "config"`}},
		{name: "repeated config key", file: "listen: a:1\nlisten: b:2\n", wantErr: []string{`line 2: key "listen" repeats line 1`}},
		{name: "config value list", file: "listen: [a, b]\n", wantErr: []string{"line 1: listen: want a single value"}},
		{name: "config not a mapping", file: "- listen\n", wantErr: []string{"want a mapping"}},
		{name: "config not yaml", file: "listen: [\n", wantErr: []string{"config c.yaml"}},
		{name: "two documents", file: "listen: a:1\n---\nlisten: b:2\n", wantErr: []string{"exactly one YAML document"}},
		{name: "bad value in file", file: "\n\nsegment-bytes: 12 parsecs\n",
			wantErr: []string{"segment-bytes (from c.yaml line 3)", `invalid size "12 parsecs"`}},
		{name: "null value in file", file: "listen:\n", wantErr: []string{"listen (from c.yaml line 1)", `invalid address ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", "c.yaml"}, args...)
			}
			_, err := load(t, args, tt.env, map[string]string{"c.yaml": tt.file})
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

func TestLoadServeOptionsHelp(t *testing.T) {
	var out strings.Builder
	_, err := loadServeOptions([]string{"-h"}, func(string) (string, bool) { return "", false }, nil, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"--config", "STRATA_DATA_DIR", "-segment-bytes", "(default 128MiB)", "flag wins over the environment"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %q:\n%s", want, out.String())
		}
	}
}

func TestConfigFileAcceptsTypedYAML(t *testing.T) {
	const file = `# all settings, written the way YAML users write them
listen: 127.0.0.1:19092
advertised-addr: ""
listeners: ""
advertised-listeners:
listener-security-protocol-map: ""
tls-cert-file: ""
tls-key-file: ""
tls-client-ca-file: ""
tls-client-auth: none
data-dir: /var/lib/strata
bucket: file:///var/lib/strata/bucket
local-budget-bytes: 512MiB
read-only: true
poll-interval: 2s
cost-put-per-1000: 0.0054
cost-get-per-1000: 0.00043
cost-storage-gb-month: 0.0125
connections-max-idle: 0
request-timeout: 5s
sasl-mechanisms: SCRAM-SHA-512,PLAIN
super-users: admin
connections-max-reauth: 1h
sweep-interval: 5m
bucket-timeout: 45s
orphan-age: 2h
offsets-retention-minutes: 1440
group-initial-rebalance-delay: 0
http-listen: "127.0.0.1:19644"
auto-create-topics: false
default-partitions: 3
segment-bytes: 64MiB
segment-ms: 600000
fsync: interval:10ms
max-request-bytes: 1048576
log-format: json
log-level: warn
`
	o, err := load(t, []string{"--config", "c.yaml"}, nil, map[string]string{"c.yaml": file})
	if err != nil {
		t.Fatal(err)
	}
	want := broker.Config{
		Listen:            "127.0.0.1:19092",
		DataDir:           "/var/lib/strata",
		DefaultPartitions: 3,
		SegmentBytes:      64 << 20,
		SegmentMs:         10 * time.Minute,
		Fsync:             locallog.FsyncPolicy{Mode: locallog.FsyncInterval, Interval: 10 * time.Millisecond},
		MaxRequestBytes:   1 << 20,
		Bucket:            "file:///var/lib/strata/bucket",
		LocalBudgetBytes:  512 << 20,
		ReadOnly:          true,
		PollInterval:      2 * time.Second,
		Prices:            broker.Prices{PutPer1000: 0.0054, GetPer1000: 0.00043, StorageGBMonth: 0.0125},
		IdleTimeout:       -1,
		RequestTimeout:    5 * time.Second,
		SASLMechanisms:    []string{"SCRAM-SHA-512", "PLAIN"},
		SuperUsers:        []string{"admin"},
		ReauthMax:         time.Hour,
		SweepInterval:     5 * time.Minute,
		OrphanAge:         2 * time.Hour,
		BucketTimeout:     45 * time.Second,

		OffsetsRetention:           24 * time.Hour,
		GroupInitialRebalanceDelay: -1,
	}
	if !reflect.DeepEqual(o.Broker, want) || o.HTTPListen != "127.0.0.1:19644" || o.LogFormat != "json" || o.LogLevel != slog.LevelWarn {
		t.Errorf("options = %+v\nwant broker %+v", o, want)
	}
	for _, s := range o.Settings {
		if s.Source != "config file" {
			t.Errorf("%s comes from %s, want config file", s.Name, s.Source)
		}
	}
}

func TestConfigFileEmpty(t *testing.T) {
	for _, file := range []string{"", "# nothing here\n", "{}\n"} {
		if _, err := load(t, []string{"--config", "c.yaml"}, nil, map[string]string{"c.yaml": file}); err != nil {
			t.Errorf("config %q: %v", file, err)
		}
	}
}

// The output of --check-config is itself a config file that loads to the
// same settings.
func TestEffectiveConfigRoundTrips(t *testing.T) {
	o, err := load(t, []string{"--listen", "127.0.0.1:0", "--fsync", "interval:1s", "--log-level", "debug"},
		map[string]string{"STRATA_AUTO_CREATE_TOPICS": "false"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	text, err := effectiveConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "# env STRATA_AUTO_CREATE_TOPICS") {
		t.Errorf("effective config does not name the sources:\n%s", text)
	}
	again, err := load(t, []string{"--config", "eff.yaml"}, nil, map[string]string{"eff.yaml": string(text)})
	if err != nil {
		t.Fatalf("reload:\n%s\n%v", text, err)
	}
	if !reflect.DeepEqual(again.Broker, o.Broker) || again.HTTPListen != o.HTTPListen || again.LogFormat != o.LogFormat || again.LogLevel != o.LogLevel {
		t.Errorf("reloaded %+v\nwant %+v\nfrom:\n%s", again, o, text)
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1", 1, true},
		{"134217728", 128 << 20, true},
		{"128MiB", 128 << 20, true},
		{"128 MiB", 128 << 20, true},
		{"4KiB", 4096, true},
		{"1GiB", 1 << 30, true},
		{"1TiB", 1 << 40, true},
		{"512B", 512, true},
		{"2047MiB", 2047 << 20, true},
		{"", 0, false},
		{"0", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"1MB", 0, false},
		{"1mib", 0, false},
		{"9223372036854775807KiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in, 1, 1<<50)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
