package minio_test

import (
	"strings"
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/minio"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestErrorsMapToSentinels(t *testing.T) {
	storetest.RunHTTPErrors(t, func(t *testing.T, url string) objectstore.Bucket {
		b, err := minio.New(minio.Config{
			Endpoint: strings.TrimPrefix(url, "http://"), Bucket: "bkt", Region: "us-east-1",
			Credentials: credentials.NewStaticV4("k", "s", ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
