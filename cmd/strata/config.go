package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/objectstore/bucketurl"
)

// serveOptions is the resolved configuration of `strata serve`.
type serveOptions struct {
	Broker      broker.Config // Logger is left nil; serve sets it
	HTTPListen  string
	LogFormat   string // "text" or "json"
	LogLevel    slog.Level
	ConfigFile  string // empty when no config file was given
	CheckConfig bool

	// Settings lists every option with its value and where the value came
	// from, in declaration order.
	Settings []setting

	// listenerFlags holds the listener and TLS settings until all are
	// read; resolveListeners turns them into Broker.Listeners.
	listenerFlags listenerFlags
}

// setting is one resolved option.
type setting struct {
	Name   string // flag name and config-file key
	Value  string // the raw text as given
	Source string // "default", "config file", "env STRATA_…" or "flag"
}

// option is one serve setting: a flag --name, an environment variable
// STRATA_NAME (upper snake case) and a config-file key name.
type option struct {
	name   string
	def    string
	usage  string
	isBool bool
	apply  func(o *serveOptions, v string) error
}

// serveOptionTable lists the settings of `strata serve`. --config and
// --check-config are not in it: they choose the file and the mode, they are
// not settings a config file can hold.
var serveOptionTable = []option{
	{
		name: "listen", def: broker.DefaultListen,
		usage: "Kafka listener `host:port` (port 0 picks a free port)",
		apply: func(o *serveOptions, v string) error {
			if err := checkHostPort(v, false); err != nil {
				return err
			}
			o.Broker.Listen = v
			return nil
		},
	},
	{
		name: "advertised-addr", def: "",
		usage: "`host:port` given to clients in Metadata (default: the bound listener address)",
		apply: func(o *serveOptions, v string) error {
			if v != "" {
				if err := checkHostPort(v, true); err != nil {
					return err
				}
			}
			o.Broker.AdvertisedAddr = v
			return nil
		},
	},
	{
		name: "listeners", def: "",
		usage: "named Kafka listeners, `NAME://host:port,…` as Kafka writes them, e.g. PLAINTEXT://localhost:9092,SECURE://0.0.0.0:9093; replaces --listen",
		apply: func(o *serveOptions, v string) error {
			ls, err := parseListenerList(v, false)
			o.listenerFlags.listeners = ls
			return err
		},
	},
	{
		name: "advertised-listeners", def: "",
		usage: "`NAME://host:port,…` given to the clients of each listener in Metadata (default: the bound address of each); names from --listeners",
		apply: func(o *serveOptions, v string) error {
			ls, err := parseListenerList(v, true)
			o.listenerFlags.advertised = ls
			return err
		},
	},
	{
		name: "listener-security-protocol-map", def: "",
		usage: "security protocol of each listener, `NAME:PROTOCOL,…` with PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, e.g. SECURE:SSL; a listener named after a protocol has that protocol",
		apply: func(o *serveOptions, v string) error {
			m, err := parseProtocolMap(v)
			o.listenerFlags.protocols = m
			return err
		},
	},
	{
		name: "tls-cert-file", def: "",
		usage: "PEM `file` of the certificate (chain) of SSL and SASL_SSL listeners",
		apply: func(o *serveOptions, v string) error { o.listenerFlags.certFile = v; return nil },
	},
	{
		name: "tls-key-file", def: "",
		usage: "PEM `file` of the private key of --tls-cert-file",
		apply: func(o *serveOptions, v string) error { o.listenerFlags.keyFile = v; return nil },
	},
	{
		name: "tls-client-ca-file", def: "",
		usage: "PEM `file` of the CA certificates that client certificates are verified against",
		apply: func(o *serveOptions, v string) error { o.listenerFlags.clientCAFile = v; return nil },
	},
	{
		name: "tls-client-auth", def: "none",
		usage: "client certificates on TLS listeners, like Kafka's ssl.client.auth: `mode` none, requested (verified if given) or required; requested and required need --tls-client-ca-file",
		apply: func(o *serveOptions, v string) error {
			a, ok := clientAuthModes[v]
			if !ok {
				return fmt.Errorf("invalid mode %q: want none, requested or required", v)
			}
			o.listenerFlags.clientAuth, o.listenerFlags.clientAuthName = a, v
			return nil
		},
	},
	{
		name: "data-dir", def: "./data",
		usage: "`directory` of the local log and broker metadata",
		apply: func(o *serveOptions, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			o.Broker.DataDir = v
			return nil
		},
	},
	{
		// Declared after data-dir, whose value its default uses.
		name: "bucket", def: "",
		usage: "remote tier bucket `URL`: file:///path, s3://bucket/prefix?region=…[&endpoint=…] or minio://host:port/bucket/prefix (default: file://<data-dir>/bucket)",
		apply: func(o *serveOptions, v string) error {
			if v == "" {
				abs, err := filepath.Abs(filepath.Join(o.Broker.DataDir, "bucket"))
				if err != nil {
					return err
				}
				v = (&url.URL{Scheme: bucketurl.File, Path: filepath.ToSlash(abs)}).String()
			}
			if _, err := bucketurl.Parse(v); err != nil {
				return err
			}
			o.Broker.Bucket = v
			return nil
		},
	},
	{
		name: "local-budget-bytes", def: "10GiB",
		usage: "most `bytes` of tiered partitions held only on local disk (not yet uploaded) before produce fails with a retriable error: integer or KiB/MiB/GiB/TiB suffix, -1 for unlimited",
		apply: func(o *serveOptions, v string) error {
			if strings.TrimSpace(v) == "-1" {
				o.Broker.LocalBudgetBytes = -1
				return nil
			}
			n, err := parseBytes(v, minLocalBudgetBytes, math.MaxInt64)
			if err != nil {
				return fmt.Errorf("%w, or -1 for unlimited", err)
			}
			o.Broker.LocalBudgetBytes = n
			return nil
		},
	},
	{
		name: "read-only", def: "false", isBool: true,
		usage: "serve the topics another broker writes to --bucket, following its manifests, and never write to the bucket",
		apply: func(o *serveOptions, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid boolean %q: want true or false", v)
			}
			o.Broker.ReadOnly = b
			return nil
		},
	},
	{
		name: "poll-interval", def: "10s",
		usage: "how often a --read-only broker reloads the bucket's topics and manifests: a `duration`, at least 100ms",
		apply: func(o *serveOptions, v string) error {
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			if d < 100*time.Millisecond {
				return fmt.Errorf("poll-interval %v is too short: the minimum is 100ms", d)
			}
			o.Broker.PollInterval = d
			return nil
		},
	},
	priceOption("cost-put-per-1000", broker.DefaultPrices.PutPer1000, "US dollars per 1,000 PUT and LIST requests, for the cost estimate (default: AWS S3 Standard)",
		func(p *broker.Prices) *float64 { return &p.PutPer1000 }),
	priceOption("cost-get-per-1000", broker.DefaultPrices.GetPer1000, "US dollars per 1,000 GET and HEAD requests, for the cost estimate",
		func(p *broker.Prices) *float64 { return &p.GetPer1000 }),
	priceOption("cost-storage-gb-month", broker.DefaultPrices.StorageGBMonth, "US dollars per GiB stored for a month, for the cost estimate",
		func(p *broker.Prices) *float64 { return &p.StorageGBMonth }),
	{
		name: "connections-max-idle", def: "10m",
		usage: "close a client connection that has sent no request for this `duration` (0: never), like Kafka's connections.max.idle.ms",
		apply: func(o *serveOptions, v string) error {
			if v == "0" {
				o.Broker.IdleTimeout = -1
				return nil
			}
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			switch {
			case d < time.Second:
				return fmt.Errorf("connections-max-idle %v is too short: the minimum is 1s, or 0 for never", d)
			default:
				o.Broker.IdleTimeout = d
			}
			return nil
		},
	},
	{
		name: "request-timeout", def: "30s",
		usage: "a request must arrive whole within this `duration` of its first byte, or the connection is closed",
		apply: func(o *serveOptions, v string) error {
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			if d < 100*time.Millisecond {
				return fmt.Errorf("request-timeout %v is too short: the minimum is 100ms", d)
			}
			o.Broker.RequestTimeout = d
			return nil
		},
	},
	{
		name: "sasl-mechanisms", def: "",
		usage: "turn authentication on: a comma-separated `list` of SASL mechanisms clients may use (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN); empty: off, every client may do everything",
		apply: func(o *serveOptions, v string) error {
			ms, err := commaList(v)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if !auth.SupportedMechanism(m) {
					return fmt.Errorf("unsupported SASL mechanism %q: want %s, %s or %s", m, auth.ScramSHA256, auth.ScramSHA512, auth.Plain)
				}
			}
			o.Broker.SASLMechanisms = ms
			return nil
		},
	},
	{
		name: "super-users", def: "",
		usage: "comma-separated `list` of users (admin) or principals (User:admin) allowed everything when authentication is on",
		apply: func(o *serveOptions, v string) error {
			us, err := commaList(v)
			if err != nil {
				return err
			}
			o.Broker.SuperUsers = us
			return nil
		},
	},
	{
		name: "connections-max-reauth", def: "0",
		usage: "an authenticated session lasts at most this `duration`, then the client must re-authenticate (KIP-368) or be disconnected; 0: sessions never expire (Kafka's connections.max.reauth.ms)",
		apply: func(o *serveOptions, v string) error {
			if strings.TrimSpace(v) == "0" {
				o.Broker.ReauthMax = 0
				return nil
			}
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			if d < time.Second {
				return fmt.Errorf("connections-max-reauth %v is too short: the minimum is 1s, or 0 for never", d)
			}
			o.Broker.ReauthMax = d
			return nil
		},
	},
	{
		name: "sweep-interval", def: "10m",
		usage: "how often orphan objects are swept from the bucket: a `duration` such as 10m, at least 1s",
		apply: func(o *serveOptions, v string) error {
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			if d < time.Second {
				return fmt.Errorf("sweep interval %v is too short: the minimum is 1s", d)
			}
			o.Broker.SweepInterval = d
			return nil
		},
	},
	{
		name: "bucket-timeout", def: "2m",
		usage: "a bucket request with no answer within this `duration` is retried as if the store were unavailable; at least 1s, above the time to move one segment over the link",
		apply: func(o *serveOptions, v string) error {
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			if d < time.Second {
				return fmt.Errorf("bucket-timeout %v is too short: the minimum is 1s", d)
			}
			o.Broker.BucketTimeout = d
			return nil
		},
	},
	{
		name: "orphan-age", def: "1h",
		usage: "`duration` an unreferenced bucket object must be old before the sweep deletes it; at least 1m, beyond the clock skew between broker and bucket",
		apply: func(o *serveOptions, v string) error {
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			if d < time.Minute {
				return fmt.Errorf("orphan age %v is too short: the minimum is 1m", d)
			}
			o.Broker.OrphanAge = d
			return nil
		},
	},
	{
		name: "offsets-retention-minutes", def: "10080",
		usage: "`minutes` the committed offsets of a consumer group without members are kept (Kafka's offsets.retention.minutes; default 7 days)",
		apply: func(o *serveOptions, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 1 || n > math.MaxInt64/int64(time.Minute) {
				return fmt.Errorf("invalid retention %q: want a positive number of minutes", v)
			}
			o.Broker.OffsetsRetention = time.Duration(n) * time.Minute
			return nil
		},
	},
	{
		name: "group-initial-rebalance-delay", def: "3s",
		usage: "how long the first rebalance of an empty consumer group waits for more members: a `duration` such as 3s, or 0 for none (Kafka's group.initial.rebalance.delay.ms)",
		apply: func(o *serveOptions, v string) error {
			if strings.TrimSpace(v) == "0" {
				o.Broker.GroupInitialRebalanceDelay = -1 // none; zero would mean the default
				return nil
			}
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			o.Broker.GroupInitialRebalanceDelay = d
			return nil
		},
	},
	{
		name: "http-listen", def: "localhost:9644",
		usage: "`host:port` of the HTTP endpoints /healthz, /readyz, /v1/partitions and /v1/groups",
		apply: func(o *serveOptions, v string) error {
			if err := checkHostPort(v, false); err != nil {
				return err
			}
			o.HTTPListen = v
			return nil
		},
	},
	{
		name: "auto-create-topics", def: "true", isBool: true,
		usage: "create unknown topics on Metadata and Produce",
		apply: func(o *serveOptions, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid boolean %q: want true or false", v)
			}
			o.Broker.AutoCreateTopics = b
			return nil
		},
	},
	{
		name: "default-partitions", def: "1",
		usage: "partition `count` of auto-created topics and of CreateTopics asking for the default",
		apply: func(o *serveOptions, v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 1 || n > maxDefaultPartitions {
				return fmt.Errorf("invalid partition count %q: want an integer from 1 to %d", v, maxDefaultPartitions)
			}
			o.Broker.DefaultPartitions = int32(n)
			return nil
		},
	},
	{
		name: "segment-bytes", def: "128MiB",
		usage: "default segment.bytes of new topics: `bytes` as an integer or with a KiB, MiB or GiB suffix",
		apply: func(o *serveOptions, v string) error {
			n, err := parseBytes(v, minSegmentBytes, math.MaxInt32)
			if err != nil {
				return err
			}
			o.Broker.SegmentBytes = n
			return nil
		},
	},
	{
		name: "segment-ms", def: "10m",
		usage: "default segment.ms of new topics: a `duration` such as 10m, or an integer number of milliseconds",
		apply: func(o *serveOptions, v string) error {
			d, err := parseMillisOrDuration(v)
			if err != nil {
				return err
			}
			o.Broker.SegmentMs = d
			return nil
		},
	},
	{
		name: "fsync", def: "always",
		usage: "when appends reach stable storage: `mode` always, interval:<duration> or never",
		apply: func(o *serveOptions, v string) error {
			p, err := locallog.ParseFsync(v)
			if err != nil {
				return err
			}
			o.Broker.Fsync = p
			return nil
		},
	},
	{
		name: "max-request-bytes", def: "100MiB",
		usage: "largest request frame accepted, in `bytes` (integer or KiB/MiB/GiB suffix); larger frames close the connection",
		apply: func(o *serveOptions, v string) error {
			n, err := parseBytes(v, minMaxRequestBytes, math.MaxInt32)
			if err != nil {
				return err
			}
			o.Broker.MaxRequestBytes = int32(n)
			return nil
		},
	},
	{
		name: "log-format", def: "text",
		usage: "log `format`: text or json",
		apply: func(o *serveOptions, v string) error {
			if v != "text" && v != "json" {
				return fmt.Errorf("invalid log format %q: want text or json", v)
			}
			o.LogFormat = v
			return nil
		},
	},
	{
		name: "log-level", def: "info",
		usage: "log `level`: debug, info, warn or error",
		apply: func(o *serveOptions, v string) error {
			if err := o.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("invalid log level %q: want debug, info, warn or error", v)
			}
			return nil
		},
	},
}

// Bounds that broker.Open enforces too, checked here so that --check-config
// rejects what the broker would.
const (
	maxDefaultPartitions = 10000
	minSegmentBytes      = 14 // one legacy record's overhead, Kafka's minimum before 4.0
	minMaxRequestBytes   = 1 << 10
	minLocalBudgetBytes  = 1 << 20
)

// commaList splits a comma-separated list, trimming spaces; "" is an empty
// list. It refuses empty and repeated items.
func commaList(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			return nil, fmt.Errorf("empty item in list %q", v)
		case slices.Contains(out, item):
			return nil, fmt.Errorf("%q is listed twice", item)
		}
		out = append(out, item)
	}
	return out, nil
}

// envName returns the environment variable of the setting name:
// "data-dir" → "STRATA_DATA_DIR".
func envName(name string) string {
	return "STRATA_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// rawValue is a flag.Value that keeps the text as given, so that every source
// (flag, environment, file, default) goes through the same parser.
type rawValue struct {
	s      string
	isBool bool
}

func (v *rawValue) String() string     { return v.s }
func (v *rawValue) Set(s string) error { v.s = s; return nil }
func (v *rawValue) IsBoolFlag() bool   { return v.isBool }

// newServeFlagSet returns the flags of `strata serve` writing their text
// into raw (by option name), config and check.
func newServeFlagSet(out io.Writer, raw map[string]*rawValue, config *string, check *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("strata serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(config, "config", "", "YAML config `file` whose keys are the flag names (env STRATA_CONFIG)")
	fs.BoolVar(check, "check-config", false, "validate the configuration, print it and exit")
	for _, opt := range serveOptionTable {
		v := &rawValue{isBool: opt.isBool}
		raw[opt.name] = v
		fs.Var(v, opt.name, opt.usage+" (env "+envName(opt.name)+")")
		fs.Lookup(opt.name).DefValue = opt.def
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: strata serve [flags]

Runs the broker. Every flag can also be set by an environment variable
(STRATA_ and the flag name in upper snake case, e.g. STRATA_DATA_DIR) or by a
key of the YAML file given with --config (the flag name, e.g. data-dir).
A flag wins over the environment, which wins over the file, which wins over
the default. Empty environment variables count as unset.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// loadServeOptions resolves the configuration of `strata serve` from its
// arguments, the environment (lookupEnv) and the config file (readFile),
// with precedence flag > environment > config file > default. It returns
// flag.ErrHelp when args ask for help; usage text and flag errors are
// written to usageOut. It has no other effects.
func loadServeOptions(args []string, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error), usageOut io.Writer) (serveOptions, error) {
	var o serveOptions
	raw := map[string]*rawValue{}
	fs := newServeFlagSet(usageOut, raw, &o.ConfigFile, &o.CheckConfig)
	if err := fs.Parse(args); err != nil {
		return serveOptions{}, err
	}
	if fs.NArg() > 0 {
		return serveOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	setByFlag := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setByFlag[f.Name] = true })

	env := func(name string) (string, bool) {
		v, ok := lookupEnv(envName(name))
		return v, ok && v != ""
	}
	if !setByFlag["config"] {
		if v, ok := env("config"); ok {
			o.ConfigFile = v
		}
	}
	var file map[string]fileValue
	if o.ConfigFile != "" {
		data, err := readFile(o.ConfigFile)
		if err != nil {
			return serveOptions{}, fmt.Errorf("read config: %w", err)
		}
		if file, err = parseConfigFile(data); err != nil {
			return serveOptions{}, fmt.Errorf("config %s: %w", o.ConfigFile, err)
		}
	}

	wheres := make(map[string]string, len(serveOptionTable)) // option name → where its value came from
	for _, opt := range serveOptionTable {
		s := setting{Name: opt.name, Value: opt.def, Source: "default"}
		where := "default"
		if fv, ok := file[opt.name]; ok {
			s.Value, s.Source = fv.value, "config file"
			where = fmt.Sprintf("%s line %d", o.ConfigFile, fv.line)
		}
		if v, ok := env(opt.name); ok {
			s.Value, s.Source = v, "env "+envName(opt.name)
			where = s.Source
		}
		if setByFlag[opt.name] {
			s.Value, s.Source = raw[opt.name].s, "flag"
			where = "flag --" + opt.name
		}
		if err := opt.apply(&o, s.Value); err != nil {
			return serveOptions{}, fmt.Errorf("%s (from %s): %w", opt.name, where, err)
		}
		o.Settings = append(o.Settings, s)
		wheres[opt.name] = where
	}
	if err := resolveListeners(&o, wheres, readFile); err != nil {
		return serveOptions{}, err
	}
	return o, nil
}

// fileValue is one key's value in the config file.
type fileValue struct {
	value string
	line  int
}

// parseConfigFile reads a YAML mapping of option names to scalar values.
// Unknown, repeated and non-scalar keys are errors; null values read as "".
func parseConfigFile(data []byte) (map[string]fileValue, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // an empty file sets nothing
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("want exactly one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil // a file of comments only
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of setting names to values", root.Line)
	}
	known := func(name string) bool {
		return slices.ContainsFunc(serveOptionTable, func(o option) bool { return o.name == name })
	}
	out := map[string]fileValue{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: want a setting name as key", k.Line)
		}
		if !known(k.Value) {
			return nil, fmt.Errorf("line %d: unknown key %q (known keys: %s)", k.Line, k.Value, knownKeys())
		}
		if prev, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: key %q repeats line %d", k.Line, k.Value, prev.line)
		}
		if v.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: %s: want a single value, not a list or mapping", v.Line, k.Value)
		}
		val := v.Value
		if v.Tag == "!!null" {
			val = ""
		}
		out[k.Value] = fileValue{value: val, line: k.Line}
	}
	return out, nil
}

func knownKeys() string {
	names := make([]string, len(serveOptionTable))
	for i, o := range serveOptionTable {
		names[i] = o.name
	}
	return strings.Join(names, ", ")
}

// checkHostPort reports whether s is host:port with a numeric port. An
// advertised address needs a host and a non-zero port; a listen address may
// leave the host empty (all interfaces) and use port 0 (any free port).
func checkHostPort(s string, advertised bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fmt.Errorf("invalid port in %q: want a number from 0 to 65535", s)
	}
	if advertised && (host == "" || p == 0) {
		return fmt.Errorf("invalid address %q: want a host name and a non-zero port", s)
	}
	return nil
}

// byteUnits are the accepted size suffixes, longest first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// parseBytes parses a size such as "1048576", "64MiB" or "1GiB" from lo to
// hi bytes.
func parseBytes(s string, lo, hi int64) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid size %q: want a positive integer number of bytes, optionally with a KiB, MiB, GiB or TiB suffix", s)
	}
	if n > hi/mult {
		return 0, fmt.Errorf("size %q is too large: the limit is %d bytes", s, hi)
	}
	if n*mult < lo {
		return 0, fmt.Errorf("size %q is too small: the minimum is %d bytes", s, lo)
	}
	return n * mult, nil
}

// parseMillisOrDuration parses a Go duration ("10m", "1h30m") or an integer
// number of milliseconds ("600000"), as Kafka writes segment.ms, of at
// least one millisecond.
func parseMillisOrDuration(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
			return 0, fmt.Errorf("invalid duration %q: want a positive number of milliseconds", s)
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Millisecond {
		return 0, fmt.Errorf("invalid duration %q: want at least 1ms, as a duration such as 10m or 90s or an integer number of milliseconds", s)
	}
	return d, nil
}

// effectiveConfig renders the resolved settings as a config file, each
// value commented with its source; loading it gives the same settings.
func effectiveConfig(o serveOptions) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range o.Settings {
		v := &yaml.Node{Kind: yaml.ScalarNode, Value: s.Value, LineComment: s.Source}
		if s.Value == "" {
			v.Style = yaml.DoubleQuotedStyle
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s.Name}, v)
	}
	return yaml.Marshal(m)
}

// priceOption is a serve option setting one of the cost estimate's prices.
func priceOption(name string, def float64, usage string, field func(*broker.Prices) *float64) option {
	return option{
		name: name, def: strconv.FormatFloat(def, 'f', -1, 64), usage: usage,
		apply: func(o *serveOptions, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return fmt.Errorf("invalid price %q: want a number of US dollars, at least 0", v)
			}
			if o.Broker.Prices == (broker.Prices{}) {
				o.Broker.Prices = broker.DefaultPrices
			}
			*field(&o.Broker.Prices) = f
			return nil
		},
	}
}
