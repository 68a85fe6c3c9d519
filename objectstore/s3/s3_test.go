package s3_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/strata-io/strata/internal/miniotest"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/s3"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestConformanceOnMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	storetest.Run(t, func(t *testing.T) objectstore.Bucket {
		b, err := s3.Open(t.Context(), s3.Config{
			Bucket:      srv.NewBucket(t),
			Region:      miniotest.Region,
			Endpoint:    "http://" + srv.Endpoint,
			PathStyle:   true,
			Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
