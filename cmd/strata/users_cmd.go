package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/objectstore/bucketurl"
)

const usersUsage = `Usage:
  strata users add NAME --password-stdin [--mechanism M] [--iterations N] [--data-dir D] [--bucket URL]
  strata users delete NAME [--mechanism M] [--data-dir D] [--bucket URL]
  strata users list [--data-dir D] [--bucket URL]

Manage the SCRAM credentials clients authenticate with when the broker runs
with --sasl-mechanisms. Only salted credentials are stored (a salt, an
iteration count and two derived keys, never the password), in
<data-dir>/security/users.json and in the bucket as security/users.json.

These commands work on the data directory and the bucket while the broker
is NOT running (they take the data directory's lock); a broker picks the
changes up at its next start. Change users of a running broker with
AlterUserScramCredentials instead, e.g.
  kafka-configs.sh --bootstrap-server HOST:9092 --command-config admin.properties \
    --alter --entity-type users --entity-name alice \
    --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]'

add       creates or replaces NAME's credential for the mechanism. The
          password is the first line of stdin (its newline stripped); it
          must not be empty. PLAIN clients are checked against the
          SCRAM-SHA-512 credential, else the SCRAM-SHA-256 one.
delete    removes NAME's credential for --mechanism, or all of them.
list      prints each user and its mechanisms and iteration counts.

--data-dir and --bucket default as for strata serve (env STRATA_DATA_DIR and
STRATA_BUCKET; the bucket defaults to file://<data-dir>/bucket).

Flags:
`

// runUsersCommand runs `strata users <subcommand>`, reading a password from
// stdin.
func runUsersCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	subs := map[string]subcommand{
		"add": func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return runUsers(ctx, "add", args, stdin, stdout, stderr)
		},
		"delete": func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return runUsers(ctx, "delete", args, stdin, stdout, stderr)
		},
		"list": func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return runUsers(ctx, "list", args, stdin, stdout, stderr)
		},
	}
	return runSubcommand(ctx, "strata users", usersUsage, subs, args, stdout, stderr)
}

func runUsers(ctx context.Context, sub string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	name := "strata users " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "`directory` of the broker's data (env STRATA_DATA_DIR; default ./data)")
	bucket := fs.String("bucket", "", bucketFlagUsage+"; default file://<data-dir>/bucket")
	var mechanism *string
	var passwordStdin *bool
	var iterations *int
	switch sub {
	case "add":
		mechanism = fs.String("mechanism", auth.ScramSHA256, "SCRAM `mechanism`: SCRAM-SHA-256 or SCRAM-SHA-512")
		passwordStdin = fs.Bool("password-stdin", false, "read the password from the first line of stdin (required)")
		iterations = fs.Int("iterations", auth.DefaultIterations, fmt.Sprintf("SCRAM iteration `count`, %d to %d", auth.MinIterations, auth.MaxIterations))
	case "delete":
		mechanism = fs.String("mechanism", "", "SCRAM `mechanism` to delete (default: all of the user's)")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usersUsage)
		fs.PrintDefaults()
	}
	err := func() error {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		var user string
		switch {
		case sub == "list" && len(pos) > 0:
			return usageErrorf("unexpected argument %q", pos[0])
		case sub != "list" && len(pos) != 1:
			return usageErrorf("want exactly one user NAME, have %d arguments", len(pos))
		case sub != "list":
			user = pos[0]
			if user == "" {
				return usageErrorf("the user name must not be empty")
			}
		}
		dir, bucketURL, err := usersLocation(*dataDir, *bucket)
		if err != nil {
			return err
		}
		switch sub {
		case "add":
			if !*passwordStdin {
				return usageErrorf("--password-stdin is required: the password is read from stdin, never from the command line")
			}
			if *mechanism != auth.ScramSHA256 && *mechanism != auth.ScramSHA512 {
				return usageErrorf("--mechanism %q: want %s or %s", *mechanism, auth.ScramSHA256, auth.ScramSHA512)
			}
			if *iterations < auth.MinIterations || *iterations > auth.MaxIterations {
				return usageErrorf("--iterations %d: want %d to %d", *iterations, auth.MinIterations, auth.MaxIterations)
			}
			password, err := readPassword(stdin)
			if err != nil {
				return err
			}
			cred, err := auth.NewCredential(*mechanism, password, *iterations)
			if err != nil {
				return err
			}
			err = broker.EditUsers(ctx, dir, bucketURL, func(u *auth.Users) (bool, error) {
				u.Set(user, cred)
				return true, nil
			})
			if err == nil {
				fmt.Fprintf(stdout, "user %s: %s credential stored (%d iterations)\n", user, *mechanism, *iterations)
			}
			return err
		case "delete":
			var deleted []string
			err := broker.EditUsers(ctx, dir, bucketURL, func(u *auth.Users) (bool, error) {
				for _, m := range []string{auth.ScramSHA256, auth.ScramSHA512} {
					if (*mechanism == "" || *mechanism == m) && u.Delete(user, m) {
						deleted = append(deleted, m)
					}
				}
				if len(deleted) == 0 {
					return false, fmt.Errorf("user %s has no credential to delete", user)
				}
				return true, nil
			})
			if err == nil {
				fmt.Fprintf(stdout, "user %s: deleted %s\n", user, strings.Join(deleted, ", "))
			}
			return err
		default:
			return broker.EditUsers(ctx, dir, bucketURL, func(u *auth.Users) (bool, error) {
				for _, info := range u.List() {
					var cs []string
					for _, c := range info.Credentials {
						cs = append(cs, fmt.Sprintf("%s(iterations=%d)", c.Mechanism, c.Iterations))
					}
					fmt.Fprintf(stdout, "%s\t%s\n", info.Name, strings.Join(cs, " "))
				}
				return false, nil
			})
		}
	}()
	if err != nil {
		return exitCodeOf(err, name, stderr)
	}
	return exitOK
}

// usersLocation resolves --data-dir and --bucket as strata serve does.
func usersLocation(dataDir, bucket string) (string, string, error) {
	if dataDir == "" {
		dataDir = os.Getenv(envName("data-dir"))
	}
	if dataDir == "" {
		dataDir = "./data"
	}
	if bucket == "" {
		bucket = os.Getenv(bucketEnv)
	}
	if bucket == "" {
		abs, err := filepath.Abs(filepath.Join(dataDir, "bucket"))
		if err != nil {
			return "", "", err
		}
		bucket = (&url.URL{Scheme: bucketurl.File, Path: filepath.ToSlash(abs)}).String()
	}
	if _, err := bucketurl.Parse(bucket); err != nil {
		return "", "", &usageError{err: err}
	}
	return dataDir, bucket, nil
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usageErrorf("empty password on stdin")
	}
	return line, nil
}
