package s3_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/s3"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestErrorsMapToSentinels(t *testing.T) {
	storetest.RunHTTPErrors(t, func(t *testing.T, url string) objectstore.Bucket {
		b, err := s3.Open(t.Context(), s3.Config{
			Bucket: "bkt", Region: "us-east-1", Endpoint: url, PathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
