package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/bucketurl"
)

// This file holds what the operator commands that read a bucket share:
// the --bucket flag, opening the bucket, and naming a partition.

// bucketEnv is the environment variable that supplies --bucket when the
// flag is not given, as STRATA_<FLAG> does for strata serve.
const bucketEnv = "STRATA_BUCKET"

// bucketFlagUsage is the help text of --bucket.
const bucketFlagUsage = "bucket `URL`: file:///path, s3://bucket/prefix?region=…[&endpoint=…], minio://host:port/bucket/prefix (env " + bucketEnv + ")"

// usageError is an error in the command line: the command exits with
// exitUsage rather than exitError.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError.
func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exitCodeOf maps the error of a command to its exit code and prints it,
// prefixed with the command's name, unless it is flag.ErrHelp.
func exitCodeOf(err error, name string, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, new(*usageError)):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
}

// parseInterspersed parses args with fs and returns the positional
// arguments. Unlike fs.Parse it also takes flags after a positional
// argument (strata manifest show ID 0 --json); everything after "--" is
// positional. A flag error is a usageError; -h returns flag.ErrHelp.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			// fs has printed the error and its usage already.
			return nil, &usageError{err: err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// bucketFlag resolves --bucket: the flag's value, else $STRATA_BUCKET.
func bucketFlag(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v, ok := os.LookupEnv(bucketEnv); ok && v != "" {
		return v, nil
	}
	return "", usageErrorf("--bucket is required (or set %s)", bucketEnv)
}

// openBucketForReading opens the bucket at rawURL for a command that only
// reads it, wrapped in objectstore.WithRetry since the backends do not
// retry. A URL that does not parse is a usage error. A file URL must name
// an existing directory: the dir backend would create a missing one, and a
// typo would then pass as an empty bucket.
func openBucketForReading(ctx context.Context, rawURL string) (objectstore.Bucket, error) {
	loc, err := bucketurl.Parse(rawURL)
	if err != nil {
		return nil, &usageError{err: err}
	}
	if loc.Scheme == bucketurl.File {
		fi, err := os.Stat(loc.Path)
		switch {
		case err != nil:
			return nil, fmt.Errorf("open bucket %s: %w", loc, err)
		case !fi.IsDir():
			return nil, fmt.Errorf("open bucket %s: %s is not a directory", loc, loc.Path)
		}
	}
	b, err := loc.Open(ctx)
	if err != nil {
		return nil, err
	}
	return objectstore.WithRetry(b, objectstore.RetryConfig{}), nil
}

// parseTopicID parses a topic ID written as 32 hex digits, the form
// tiering.PartitionPrefix uses in keys.
func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("topic ID %q is not %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("topic ID %q is not %d hex digits", s, 2*len(id))
	}
	return id, nil
}

// parsePartition parses a partition number: 0 to 2^31-1.
func parsePartition(s string) (int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("partition %q is not a number from 0 to %d", s, int32(^uint32(0)>>1))
	}
	return int32(n), nil
}

// subcommand is one of a command's subcommands: it returns the exit status.
type subcommand func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// runSubcommand dispatches args[0] to one of subs, printing usage for help
// and for an unknown or missing subcommand.
func runSubcommand(ctx context.Context, name, usage string, subs map[string]subcommand, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	sub, rest := args[0], args[1:]
	if run, ok := subs[sub]; ok {
		return run(ctx, rest, stdout, stderr)
	}
	switch sub {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: unknown subcommand %q\n\n%s", name, sub, usage)
	return exitUsage
}
