// Command strata is the Strata broker binary: `strata serve` runs a
// Kafka-compatible broker, `strata manifest show` and `strata bucket
// verify` inspect a bucket, `strata export` and `strata replay` read a
// topic's history from a bucket into files or another Kafka cluster,
// `strata version` prints the build version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad arguments or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so that a second
	// one ends a shutdown that hangs.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage: strata <command> [flags]

Commands:
  serve     run the broker (strata serve -h lists its flags)
  manifest  show a partition's manifest (strata manifest show -h)
  bucket    verify every partition in a bucket (strata bucket verify -h)
  export    write a topic's history in a bucket to Parquet or Arrow files (strata export -h)
  replay    produce a topic's history in a bucket into a Kafka cluster (strata replay -h)
  users     add, delete or list SASL/SCRAM users while the broker is stopped (strata users -h)
  version   print the version
  help      print this text
`

// run runs the command in args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServeCommand(ctx, rest, stdout, stderr)
	case "manifest":
		return runManifestCommand(ctx, rest, stdout, stderr)
	case "bucket":
		return runBucketCommand(ctx, rest, stdout, stderr)
	case "export":
		return runExportCommand(ctx, rest, stdout, stderr)
	case "replay":
		return runReplayCommand(ctx, rest, stdout, stderr)
	case "users":
		return runUsersCommand(ctx, rest, os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "strata %s (%s %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "strata: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}

// buildVersion returns the version stamped by the Makefile, or else the
// module version recorded by `go install`.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func runServeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := loadServeOptions(args, os.LookupEnv, os.ReadFile, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "strata serve: %v\n", err)
		return exitUsage
	}
	if o.CheckConfig {
		text, err := effectiveConfig(o)
		if err != nil {
			fmt.Fprintf(stderr, "strata serve: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "# strata serve: configuration is valid\n%s", text)
		return exitOK
	}

	log := newLogger(stderr, o)
	listen := []any{"listen", o.Broker.Listen, "advertised_addr", o.Broker.AdvertisedAddr}
	if len(o.Broker.Listeners) > 0 {
		// The broker logs each listener's bound and advertised address.
		names := make([]string, 0, len(o.Broker.Listeners))
		for _, l := range o.Broker.Listeners {
			names = append(names, l.Name)
		}
		listen = []any{"listeners", names}
	}
	log.Info("starting strata", append(append([]any{"version", buildVersion(), "config", o.ConfigFile}, listen...),
		"data_dir", o.Broker.DataDir, "http_listen", o.HTTPListen,
		"fsync", o.Broker.Fsync.String(), "auto_create_topics", o.Broker.AutoCreateTopics,
		"default_partitions", o.Broker.DefaultPartitions, "segment_bytes", o.Broker.SegmentBytes,
		"segment_ms", o.Broker.SegmentMs, "max_request_bytes", o.Broker.MaxRequestBytes,
		"sasl_mechanisms", o.Broker.SASLMechanisms, "super_users", o.Broker.SuperUsers)...)
	if err := serve(ctx, o, log, nil); err != nil {
		log.Error("strata stopped with an error", "err", err)
		return exitError
	}
	log.Info("strata stopped")
	return exitOK
}

func newLogger(w io.Writer, o serveOptions) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.LogLevel}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
