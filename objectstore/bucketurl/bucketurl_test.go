package bucketurl_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/miniotest"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/bucketurl"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestParse(t *testing.T) {
	abs, _ := filepath.Abs("rel/dir")
	for _, tc := range []struct {
		raw  string
		want bucketurl.Location
		str  string // Location.String
	}{
		{"file:///var/lib/strata/bucket", bucketurl.Location{Scheme: "file", Path: "/var/lib/strata/bucket"}, "file:///var/lib/strata/bucket"},
		{"file://localhost/tmp/b/", bucketurl.Location{Scheme: "file", Path: "/tmp/b"}, "file:///tmp/b"},
		{"/plain/path", bucketurl.Location{Scheme: "file", Path: "/plain/path"}, "file:///plain/path"},
		{"rel/dir", bucketurl.Location{Scheme: "file", Path: abs}, "file://" + abs},
		{"s3://my-bucket", bucketurl.Location{Scheme: "s3", Bucket: "my-bucket"}, "s3://my-bucket/"},
		{"s3://my-bucket/strata/prod?region=eu-west-1",
			bucketurl.Location{Scheme: "s3", Bucket: "my-bucket", Prefix: "strata/prod/", Region: "eu-west-1"},
			"s3://my-bucket/strata/prod/?region=eu-west-1"},
		{"s3://b.example/p/?endpoint=http://127.0.0.1:9000/&path-style=true&region=us-east-1",
			bucketurl.Location{Scheme: "s3", Bucket: "b.example", Prefix: "p/", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true},
			"s3://b.example/p/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&path-style=true&region=us-east-1"},
		{"minio://localhost:9000/strata?secure=false",
			bucketurl.Location{Scheme: "minio", Host: "localhost:9000", Bucket: "strata"},
			"minio://localhost:9000/strata/?secure=false"},
		{"minio://minio.internal/strata/a/b",
			bucketurl.Location{Scheme: "minio", Host: "minio.internal", Bucket: "strata", Prefix: "a/b/", Secure: true},
			"minio://minio.internal/strata/a/b/"},
	} {
		loc, err := bucketurl.Parse(tc.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if *loc != tc.want {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.raw, *loc, tc.want)
		}
		if got := loc.String(); got != tc.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.raw, got, tc.str)
		}
		if again, err := bucketurl.Parse(loc.String()); err != nil || *again != *loc {
			t.Errorf("Parse(String()) of %q = %+v, %v; want the same location", tc.raw, again, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, raw := range []string{
		"",
		"file://relative/path",
		"file:relative",
		"gs://bucket",
		"s3://",
		"s3://UPPER",
		"s3://ab",
		"s3://bucket/a//b",
		"s3://bucket/../x",
		"s3://bucket?regoin=us-east-1",
		"s3://bucket?region=a&region=b",
		"s3://bucket?endpoint=127.0.0.1:9000",
		"s3://bucket?endpoint=ftp://host",
		"s3://bucket?endpoint=http://host/path",
		"s3://bucket?path-style=maybe",
		"minio:///bucket",
		"minio://host:9000",
		"minio://host:9000/bucket?secure=nope",
		"s3://bucket#frag",
	} {
		if loc, err := bucketurl.Parse(raw); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", raw, loc)
		}
	}
}

func TestCredentialsInURLAreRefusedAndNeverEchoed(t *testing.T) {
	const secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	for _, raw := range []string{
		"s3://AKIAEXAMPLE:" + secret + "@bucket/prefix",
		"minio://admin:" + secret + "@host:9000/bucket",
		"s3://bucket?endpoint=http://admin:" + secret + "@127.0.0.1:9000",
		"s3://bucket?token=" + secret,
		"s3://bucket?endpoint=admin:" + secret + "@127.0.0.1:9000",
	} {
		_, err := bucketurl.Parse(raw)
		if err == nil {
			t.Errorf("Parse(%q) accepted credentials", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Parse error shows the secret: %v", err)
		}
		if r := bucketurl.Redact(raw); strings.Contains(r, secret) {
			t.Errorf("Redact(%q) = %q shows the secret", raw, r)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"s3://bucket/p?region=eu-west-1", "s3://bucket/p?region=eu-west-1"},
		{"s3://user:pw@bucket/p", "s3://REDACTED@bucket/p"},
		{"s3://bucket?endpoint=http://u:p@h:9000&x-amz-security-token=t", "s3://bucket?endpoint=http%3A%2F%2FREDACTED%40h%3A9000&x-amz-security-token=REDACTED"},
		{"minio://h:9000/b?secure=false#frag", "minio://h:9000/b?secure=false"},
		{"/plain/path", "/plain/path"},
		{"s3://bad%zz@host", "s3://REDACTED(unparseable)"},
	} {
		if got := bucketurl.Redact(tc.raw); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestOpenFileURL(t *testing.T) {
	root := t.TempDir()
	b, err := bucketurl.Open(t.Context(), "file://"+root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(t.Context(), "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := objectstore.Describe(b); got != "file://"+root {
		t.Errorf("Describe = %q", got)
	}
}

// TestOpenRemoteURLs opens s3:// and minio:// URLs of a real MinIO, with
// credentials only in the environment, and checks that the prefix keeps
// the objects apart.
func TestOpenRemoteURLs(t *testing.T) {
	srv := miniotest.Start(t)
	srv.Setenv(t)
	ctx := t.Context()
	for _, kind := range []string{"s3", "minio"} {
		t.Run(kind, func(t *testing.T) {
			bucket := srv.NewBucket(t)
			whole, err := bucketurl.Open(ctx, srv.BucketURL(kind, bucket, ""))
			if err != nil {
				t.Fatal(err)
			}
			pre, err := bucketurl.Open(ctx, srv.BucketURL(kind, bucket, "strata/dev"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pre.Put(ctx, "topics/t/0", []byte("in prefix")); err != nil {
				t.Fatal(err)
			}
			if _, err := whole.Put(ctx, "strata/devx", []byte("next to it")); err != nil {
				t.Fatal(err)
			}
			body, info, err := whole.Get(ctx, "strata/dev/topics/t/0")
			if err != nil || string(body) != "in prefix" {
				t.Fatalf("Get through the whole bucket = %q, %v", body, err)
			}
			if info.Key != "strata/dev/topics/t/0" {
				t.Errorf("Info.Key = %q", info.Key)
			}
			var keys []string
			for info, err := range pre.List(ctx, "") {
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, info.Key)
			}
			if !slices.Equal(keys, []string{"topics/t/0"}) {
				t.Errorf("List through the prefix = %q", keys)
			}
			if _, _, err := pre.Get(ctx, "x"); !errors.Is(err, objectstore.ErrNotExist) {
				t.Errorf("Get(missing) = %v", err)
			}
		})
	}
	t.Run("no credentials", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		b, err := bucketurl.Open(ctx, srv.URL("minio"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(ctx, "k", []byte("x")); err == nil {
			t.Fatal("an anonymous Put succeeded")
		}
	})
}

// TestConformanceOnExternalBucket runs the conformance suite against a bucket
// outside the test (AWS S3, say), under a fresh prefix that it empties
// afterwards, when STRATA_TEST_S3_URL names one; credentials come from the
// environment as always.
func TestConformanceOnExternalBucket(t *testing.T) {
	raw := os.Getenv("STRATA_TEST_S3_URL")
	if raw == "" {
		t.Skip("STRATA_TEST_S3_URL is not set: no external bucket to test (MinIO is tested by the s3 and minio packages)")
	}
	base, err := bucketurl.Open(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	base = objectstore.WithRetry(base, objectstore.RetryConfig{})
	run := fmt.Sprintf("strata-storetest-%d/", time.Now().UnixNano())
	n := 0
	storetest.Run(t, func(t *testing.T) objectstore.Bucket {
		n++
		b := objectstore.WithPrefix(base, fmt.Sprintf("%s%d/", run, n))
		t.Cleanup(func() {
			ctx := context.Background()
			for info, err := range b.List(ctx, "") {
				if err != nil {
					t.Errorf("clean up %s: %v", run, err)
					return
				}
				if err := b.Delete(ctx, info.Key); err != nil {
					t.Errorf("clean up %s: %v", run, err)
					return
				}
			}
		})
		return b
	})
}
