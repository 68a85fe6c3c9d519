package bucketurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/dir"
	"github.com/strata-io/strata/objectstore/minio"
	"github.com/strata-io/strata/objectstore/s3"
)

// The schemes.
const (
	File  = "file"
	S3    = "s3"
	MinIO = "minio"
)

// Location is a parsed bucket URL.
type Location struct {
	Scheme string // File, S3 or MinIO
	// Path is the directory of a file URL.
	Path string
	// Host is the host:port of a minio URL.
	Host string
	// Bucket is the bucket of an s3 or minio URL.
	Bucket string
	// Prefix is the key prefix, "" or ending with '/'.
	Prefix string
	// Region is the region query parameter.
	Region string
	// Endpoint is the endpoint query parameter of an s3 URL.
	Endpoint string
	// PathStyle is the path-style query parameter of an s3 URL.
	PathStyle bool
	// Secure is the secure query parameter of a minio URL (default true).
	Secure bool
}

var allowedQuery = map[string][]string{
	File:  nil,
	S3:    {"region", "endpoint", "path-style"},
	MinIO: {"region", "secure"},
}

// scheme matches the start of a URL.
var scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// isPath reports whether raw is a plain path rather than a URL.
func isPath(raw string) bool { return !scheme.MatchString(raw) }

// bucketName is the rule S3 gives for bucket names (MinIO's is the same).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Parse parses a bucket URL (see the package doc) without opening it. Its
// errors quote the URL only in redacted form.
func Parse(rawURL string) (*Location, error) {
	loc, err := parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("bucket URL %s: %w", Redact(rawURL), err)
	}
	return loc, nil
}

func parse(raw string) (*Location, error) {
	if raw == "" {
		return nil, errors.New("empty")
	}
	if isPath(raw) {
		abs, err := filepath.Abs(raw)
		if err != nil {
			return nil, err
		}
		return &Location{Scheme: File, Path: abs}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.User != nil {
		return nil, errors.New("credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or use the AWS credential chain)")
	}
	if u.Fragment != "" {
		return nil, errors.New("unexpected #fragment")
	}
	allowed, ok := allowedQuery[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("unknown scheme %q (want file, s3 or minio)", u.Scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("malformed query")
	}
	for k, v := range q {
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("unknown parameter %q for %s URLs (allowed: %v)", k, u.Scheme, allowed)
		}
		if len(v) != 1 {
			return nil, fmt.Errorf("parameter %q given %d times", k, len(v))
		}
	}
	loc := &Location{Scheme: u.Scheme, Region: q.Get("region")}
	switch u.Scheme {
	case File:
		if u.Opaque != "" && u.Scheme != File {
			return nil, errors.New("a file URL needs an absolute path: file:///abs/path")
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URL with host %q; write file:///abs/path", u.Host)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, errors.New("a file URL needs an absolute path: file:///abs/path")
		}
		loc.Path = filepath.Clean(u.Path)
		return loc, nil
	case S3:
		loc.Bucket = u.Host
		if loc.Prefix, err = prefixOf(u.Path); err != nil {
			return nil, err
		}
		if ep := q.Get("endpoint"); ep != "" {
			epu, err := url.Parse(ep)
			switch {
			case err != nil || (epu.Scheme != "http" && epu.Scheme != "https") || epu.Host == "":
				return nil, errors.New("endpoint must be an http:// or https:// URL such as http://127.0.0.1:9000")
			case epu.User != nil:
				return nil, errors.New("credentials do not go in the endpoint URL")
			case epu.RawQuery != "" || (epu.Path != "" && epu.Path != "/"):
				return nil, errors.New("endpoint must have no path or query")
			}
			loc.Endpoint = strings.TrimSuffix(ep, "/")
		}
		if loc.PathStyle, err = boolParam(q, "path-style", false); err != nil {
			return nil, err
		}
	case MinIO:
		if u.Host == "" {
			return nil, errors.New("a minio URL needs a host: minio://host:port/bucket")
		}
		loc.Host = u.Host
		bucket, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		loc.Bucket = bucket
		if loc.Prefix, err = prefixOf(rest); err != nil {
			return nil, err
		}
		if loc.Secure, err = boolParam(q, "secure", true); err != nil {
			return nil, err
		}
	}
	if !bucketName.MatchString(loc.Bucket) {
		return nil, fmt.Errorf("bucket name %q is not valid (3-63 of a-z, 0-9, '.', '-')", loc.Bucket)
	}
	return loc, nil
}

// prefixOf turns the path of a URL into a key prefix: no leading '/', one
// trailing '/', every segment a valid key segment.
func prefixOf(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if err := objectstore.ValidateKey(p); err != nil {
		return "", fmt.Errorf("prefix: %w", err)
	}
	return p + "/", nil
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("parameter %s=%q is not true or false", name, v)
	}
	return b, nil
}

// String renders the location as a canonical URL; it never holds a secret.
func (l *Location) String() string {
	q := url.Values{}
	if l.Region != "" {
		q.Set("region", l.Region)
	}
	var u url.URL
	switch l.Scheme {
	case File:
		u = url.URL{Scheme: File, Path: filepath.ToSlash(l.Path)}
		return u.String()
	case S3:
		if l.Endpoint != "" {
			q.Set("endpoint", l.Endpoint)
		}
		if l.PathStyle {
			q.Set("path-style", "true")
		}
		u = url.URL{Scheme: S3, Host: l.Bucket, Path: "/" + l.Prefix}
	case MinIO:
		if !l.Secure {
			q.Set("secure", "false")
		}
		u = url.URL{Scheme: MinIO, Host: l.Host, Path: "/" + l.Bucket + "/" + l.Prefix}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Open parses rawURL and returns its bucket, with the prefix applied. The
// remote backends do not retry; wrap the result in objectstore.WithRetry.
// Open does not contact a remote store.
func Open(ctx context.Context, rawURL string) (objectstore.Bucket, error) {
	loc, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	return loc.Open(ctx)
}

// Open returns the location's bucket, with the prefix applied.
func (l *Location) Open(ctx context.Context) (objectstore.Bucket, error) {
	var (
		b   objectstore.Bucket
		err error
	)
	switch l.Scheme {
	case File:
		b, err = dir.Open(l.Path)
	case S3:
		b, err = s3.Open(ctx, s3.Config{Bucket: l.Bucket, Region: l.Region, Endpoint: l.Endpoint, PathStyle: l.PathStyle})
	case MinIO:
		b, err = minio.New(minio.Config{Endpoint: l.Host, Bucket: l.Bucket, Secure: l.Secure, Region: l.Region})
	default:
		err = fmt.Errorf("unknown scheme %q", l.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", l, err)
	}
	return objectstore.WithPrefix(b, l.Prefix), nil
}

// Redact renders a bucket URL for logs: user information and query values
// other than the known harmless ones are replaced, an endpoint is redacted
// in turn, and a URL that does not parse is reduced to its scheme.
func Redact(rawURL string) string {
	if isPath(rawURL) {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		scheme, _, _ := strings.Cut(rawURL, ":")
		if len(scheme) > 10 || strings.ContainsAny(scheme, "/@?") {
			scheme = "?"
		}
		return scheme + "://REDACTED(unparseable)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.Opaque != "" && u.Scheme != File {
		u.Opaque = "REDACTED" // "user:secret@host" parses as scheme "user"
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "REDACTED"
		} else {
			for k, vs := range q {
				for i, v := range vs {
					switch k {
					case "region", "path-style", "secure":
					case "endpoint":
						if isPath(v) {
							vs[i] = "REDACTED"
						} else {
							vs[i] = Redact(v)
						}
					default:
						vs[i] = "REDACTED"
					}
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
