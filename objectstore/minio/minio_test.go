package minio_test

import (
	"testing"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/strata-io/strata/internal/miniotest"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/objectstore/minio"
	"github.com/strata-io/strata/objectstore/storetest"
)

func TestConformanceOnMinIO(t *testing.T) {
	srv := miniotest.Start(t)
	storetest.Run(t, func(t *testing.T) objectstore.Bucket {
		b, err := minio.New(minio.Config{
			Endpoint:    srv.Endpoint,
			Bucket:      srv.NewBucket(t),
			Region:      miniotest.Region,
			Credentials: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
