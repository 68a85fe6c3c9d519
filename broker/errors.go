package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/batch"
	"github.com/strata-io/strata/locallog"
	"github.com/strata-io/strata/tiering"
)

// Sentinel errors. Handlers return these (wrapped with detail) and the
// response carries errorCode(err); the wrapped text becomes the error
// message on the versions that have one.
var (
	errUnknownTopicOrPartition = errors.New("unknown topic or partition")
	errUnknownTopicID          = errors.New("unknown topic ID")
	errTopicExists             = errors.New("topic already exists")
	errInvalidTopic            = errors.New("invalid topic")
	errInvalidPartitions       = errors.New("invalid number of partitions")
	errInvalidReplication      = errors.New("invalid replication factor")
	errInvalidAssignment       = errors.New("invalid replica assignment")
	errInvalidConfig           = errors.New("invalid config")
	errInvalidRequest          = errors.New("invalid request")
	errMessageTooLarge         = errors.New("record batch larger than max.message.bytes")
	errTransactionsUnsupported = errors.New("transactions are not supported")
	errInvalidRequiredAcks     = errors.New("acks must be -1, 0 or 1")
	errUnsupportedVersion      = errors.New("unsupported version")
	errUnknownLeaderEpoch      = errors.New("leader epoch is newer than the broker's")
	errFencedLeaderEpoch       = errors.New("leader epoch is older than the broker's")
	errEndpointType            = errors.New("this endpoint serves brokers, not controllers")
	errUnsupportedEndpointType = errors.New("unsupported endpoint type")
	errRebootstrap             = errors.New("cluster or node ID is not this broker's")
	errFetchSessionNotFound    = errors.New("fetch sessions are not supported")
	errStorage                 = errors.New("local storage error")
	// Authorization: the principal lacks the ACL the operation needs.
	errTopicAuthorization   = errors.New("not authorized to access the topic")
	errGroupAuthorization   = errors.New("not authorized to access the group")
	errClusterAuthorization = errors.New("not authorized to access the cluster")
	errSecurityDisabled     = errors.New("no authorizer: authentication is off")
	// Group coordinator errors, named as Kafka names them.
	errInvalidGroupID            = errors.New("invalid group id")
	errInvalidSessionTimeout     = errors.New("invalid session timeout")
	errInconsistentGroupProtocol = errors.New("inconsistent group protocol")
	errUnknownMemberID           = errors.New("unknown member id")
	errMemberIDRequired          = errors.New("member id required")
	errFencedInstanceID          = errors.New("fenced instance id")
	errIllegalGeneration         = errors.New("illegal generation")
	errRebalanceInProgress       = errors.New("rebalance in progress")
	errNonEmptyGroup             = errors.New("group is not empty")
	errGroupIDNotFound           = errors.New("group id not found")
	errGroupSubscribedToTopic    = errors.New("group is subscribed to the topic")
	errOffsetMetadataTooLarge    = errors.New("offset metadata too large")
	errNotCoordinator            = errors.New("not the coordinator")
	errCoordinatorNotAvailable   = errors.New("coordinator not available")
	// errReadOnly: a write to a read-only broker. Answered as a missing
	// permission, which clients do not retry.
	errReadOnly = errors.New("this broker is read-only: it serves a bucket another broker writes")
	// errClusterReadOnly wraps errReadOnly where the answer is for the
	// cluster, not a topic (InitProducerID).
	errClusterReadOnly = errors.New("cluster")
	// errRemoteStorage: the remote tier could not serve a read (a missing or
	// corrupt object, the bucket unavailable). Retriable: the consumer
	// stays at its offset.
	errRemoteStorage = errors.New("remote storage error")
)

// errorCodes maps errors to Kafka error codes. errorCode checks them in
// order and the first match wins, so more specific errors come first.
var errorCodes = []struct {
	err  error
	code int16
}{
	{errTopicAuthorization, kerr.TopicAuthorizationFailed.Code},
	{errGroupAuthorization, kerr.GroupAuthorizationFailed.Code},
	{errClusterAuthorization, kerr.ClusterAuthorizationFailed.Code},
	{errSecurityDisabled, kerr.SecurityDisabled.Code},
	{errUnknownTopicOrPartition, kerr.UnknownTopicOrPartition.Code},
	{errUnknownTopicID, kerr.UnknownTopicID.Code},
	{errTopicExists, kerr.TopicAlreadyExists.Code},
	{errInvalidTopic, kerr.InvalidTopicException.Code},
	{errInvalidPartitions, kerr.InvalidPartitions.Code},
	{errInvalidReplication, kerr.InvalidReplicationFactor.Code},
	{errInvalidAssignment, kerr.InvalidReplicaAssignment.Code},
	{errInvalidConfig, kerr.InvalidConfig.Code},
	{errInvalidRequest, kerr.InvalidRequest.Code},
	{errMessageTooLarge, kerr.MessageTooLarge.Code},
	// Only a transactional producer sends transactional batches or
	// InitProducerId with a transactional ID. Both answers are fatal to
	// it, so it stops at once instead of retrying.
	{errTransactionsUnsupported, kerr.TransactionalIDAuthorizationFailed.Code},
	{errInvalidRequiredAcks, kerr.InvalidRequiredAcks.Code},
	{errUnsupportedVersion, kerr.UnsupportedVersion.Code},
	{errUnknownLeaderEpoch, kerr.UnknownLeaderEpoch.Code},
	{errFencedLeaderEpoch, kerr.FencedLeaderEpoch.Code},
	{errEndpointType, kerr.MismatchedEndpointType.Code},
	{errUnsupportedEndpointType, kerr.UnsupportedEndpointType.Code},
	{errRebootstrap, kerr.RebootstrapRequired.Code},
	{errFetchSessionNotFound, kerr.FetchSessionIDNotFound.Code},
	{errInvalidGroupID, kerr.InvalidGroupID.Code},
	{errInvalidSessionTimeout, kerr.InvalidSessionTimeout.Code},
	{errInconsistentGroupProtocol, kerr.InconsistentGroupProtocol.Code},
	{errUnknownMemberID, kerr.UnknownMemberID.Code},
	{errMemberIDRequired, kerr.MemberIDRequired.Code},
	{errFencedInstanceID, kerr.FencedInstanceID.Code},
	{errIllegalGeneration, kerr.IllegalGeneration.Code},
	{errRebalanceInProgress, kerr.RebalanceInProgress.Code},
	{errNonEmptyGroup, kerr.NonEmptyGroup.Code},
	{errGroupIDNotFound, kerr.GroupIDNotFound.Code},
	{errGroupSubscribedToTopic, kerr.GroupSubscribedToTopic.Code},
	{errOffsetMetadataTooLarge, kerr.OffsetMetadataTooLarge.Code},
	{errNotCoordinator, kerr.NotCoordinator.Code},
	{errCoordinatorNotAvailable, kerr.CoordinatorNotAvailable.Code},
	{errClusterReadOnly, kerr.ClusterAuthorizationFailed.Code},
	{errReadOnly, kerr.TopicAuthorizationFailed.Code},

	{batch.ErrInvalidRecord, kerr.InvalidRecord.Code},
	{batch.ErrCorrupt, kerr.CorruptMessage.Code},
	{batch.ErrTruncated, kerr.CorruptMessage.Code},

	{locallog.ErrOffsetOutOfRange, kerr.OffsetOutOfRange.Code},
	{locallog.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber.Code},
	{locallog.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch.Code},
	// A partition closes when its topic is deleted under a request.
	{locallog.ErrClosed, kerr.UnknownTopicOrPartition.Code},
	{locallog.ErrCorrupt, kerr.KafkaStorageError.Code},

	// Remote reads: retriable, and before the context errors, so a read
	// of the bucket that timed out is not mistaken for a produce timeout.
	{errRemoteStorage, kerr.KafkaStorageError.Code},
	{errLocalBudget, kerr.KafkaStorageError.Code},
	{tiering.ErrMissingObject, kerr.KafkaStorageError.Code},
	{tiering.ErrCorrupt, kerr.KafkaStorageError.Code},

	// A produce timeout: the batch is written but not yet durable. The
	// idempotent producer's retry is answered as a duplicate.
	{context.DeadlineExceeded, kerr.RequestTimedOut.Code},
	{errStorage, kerr.KafkaStorageError.Code},
}

// errorCode returns the Kafka error code for err: 0 for nil, the code of
// the first matching sentinel, and UNKNOWN_SERVER_ERROR for anything else.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage returns err's text for a response's ErrorMessage field, or
// nil for no error.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
