package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/locallog"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("topic x: %w", errUnknownTopicOrPartition), kerr.UnknownTopicOrPartition},
		{errUnknownTopicID, kerr.UnknownTopicID},
		{fmt.Errorf("topic x: %w", errTopicAuthorization), kerr.TopicAuthorizationFailed},
		{errGroupAuthorization, kerr.GroupAuthorizationFailed},
		{errClusterAuthorization, kerr.ClusterAuthorizationFailed},
		{errSecurityDisabled, kerr.SecurityDisabled},
		{errTopicExists, kerr.TopicAlreadyExists},
		{errInvalidTopic, kerr.InvalidTopicException},
		{errInvalidPartitions, kerr.InvalidPartitions},
		{errInvalidReplication, kerr.InvalidReplicationFactor},
		{errInvalidAssignment, kerr.InvalidReplicaAssignment},
		{errInvalidConfig, kerr.InvalidConfig},
		{errInvalidRequest, kerr.InvalidRequest},
		{errMessageTooLarge, kerr.MessageTooLarge},
		{errTransactionsUnsupported, kerr.TransactionalIDAuthorizationFailed},
		{errInvalidRequiredAcks, kerr.InvalidRequiredAcks},
		{errUnsupportedVersion, kerr.UnsupportedVersion},
		{errUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
		{errFencedLeaderEpoch, kerr.FencedLeaderEpoch},
		{errEndpointType, kerr.MismatchedEndpointType},
		{errUnsupportedEndpointType, kerr.UnsupportedEndpointType},
		{errRebootstrap, kerr.RebootstrapRequired},
		{errFetchSessionNotFound, kerr.FetchSessionIDNotFound},
		{fmt.Errorf("batch: %w", batch.ErrCorrupt), kerr.CorruptMessage},
		{batch.ErrTruncated, kerr.CorruptMessage},
		{batch.ErrInvalidRecord, kerr.InvalidRecord},
		{locallog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{locallog.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{locallog.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{locallog.ErrClosed, kerr.UnknownTopicOrPartition},
		{locallog.ErrCorrupt, kerr.KafkaStorageError},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), kerr.RequestTimedOut},
		{storageErr(io.ErrShortWrite), kerr.KafkaStorageError},
		{storageErr(locallog.ErrOutOfOrderSequence), kerr.OutOfOrderSequenceNumber},
		{errors.New("something else"), kerr.UnknownServerError},
	}
	for _, tt := range tests {
		if got := errorCode(tt.err); got != tt.want.Code {
			t.Errorf("errorCode(%v) = %d, want %v", tt.err, got, tt.want)
		}
	}
	if errorCode(nil) != 0 {
		t.Errorf("errorCode(nil) = %d", errorCode(nil))
	}
	// Every sentinel in the table is reachable: none is shadowed by an
	// earlier entry.
	for i, e := range errorCodes {
		if got := errorCode(e.err); got != e.code {
			t.Errorf("entry %d (%v) maps to %d, want %d", i, e.err, got, e.code)
		}
	}
}
