// Package broker is Strata's Kafka side: the listener, client connections,
// request decoding and routing (franz-go kmsg), one handler per API
// (produce.go, fetch.go, …), the topic metadata store, the group
// coordinator and producer IDs. It
// serves every partition from the local log (package locallog) and, with
// Config.Bucket set, from the remote tier (package tiering). It may import
// locallog, batch, tiering, index, cache and objectstore; nothing below it
// knows the Kafka protocol.
//
// The broker is a cluster of one: node ID 0, leader of every partition at
// leader epoch 0. versions.go holds the one table of supported APIs and
// versions; errors.go maps Go errors to Kafka error codes in one place.
//
// # Connections
//
// Each connection has a reader goroutine that reads a frame, decodes it and
// runs the handler's ordered part (for Produce: validation and the append)
// before reading the next, so one connection's idempotent batches reach the
// log in the order they were sent. A handler that must wait — acks=all for
// its group-committed fsync, a long-poll fetch for appends — returns the
// wait as a finish function that runs on its own goroutine while the
// reader goes on: pipelined produce requests are appended while earlier
// ones wait, and one fsync acknowledges them all. A writer goroutine sends
// the answers strictly in request order. At most maxInFlight requests per
// connection are unanswered; then the reader stops reading. Frames the
// protocol cannot answer (too large, truncated, undecodable, an unknown
// API or version) close the connection with a log line; an unknown
// ApiVersions version is answered in v0 (KIP-511). A panic while serving a
// connection closes that connection only.
//
// The broker binds one or more named listeners (Config.Listeners), each
// with its own accept loop and security protocol. Every connection knows
// its listener: answers that name the broker (Metadata, FindCoordinator,
// DescribeCluster) give the address that listener advertises, as Kafka
// does. On a TLS listener the handshake runs on the connection's
// goroutine, bounded by the request timeout, so a silent client cannot
// hold up accepting others; a failed handshake closes that connection
// only. A connection's principal is "User:" and the subject DN of a
// verified client certificate, else User:ANONYMOUS; each request carries
// it (request.principal) for SASL to overwrite and ACLs to check.
//
// # Authentication
//
// With Config.SASLMechanisms set, a connection must authenticate with SASL
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; package auth runs the exchanges)
// before any request but ApiVersions and SaslHandshake; sasl.go describes
// the states, the raw-token flow after a v0 handshake and
// re-authentication (KIP-368). The reader goroutine runs the SASL handlers
// synchronously, so a connection's principal (auth.Anonymous until it
// authenticates) is settled before its next frame is read and is copied
// into every request. Users' salted SCRAM credentials live in
// DataDir/security/users.json and in the bucket as security/users.json
// (users_store.go), changed by AlterUserScramCredentials or, with the
// broker stopped, by EditUsers (`strata users`). No password, token or key
// is logged or put in an error message.
//
// # Topic metadata
//
// Topics (name, ID, partition count, explicitly set configs), the cluster
// ID and the producer-ID reservation live in DataDir/meta.json (format in
// meta.go), replaced atomically on every change. Partition directories in
// the local log are named by topic ID and partition, so a topic deleted
// and recreated under the same name never sees the old data. The
// published view of all topics is an immutable topicSet behind an atomic
// pointer: requests read it without locks; changes build a new set,
// persist it, then publish it.
//
// With a bucket, the metadata is also kept there (bucketmeta.go), so that
// the bucket alone describes every topic: cluster.json holds the cluster
// ID, and topics/<topic id>/topic.json each topic's name, ID, partition
// count and configs, written after meta.json on every change and deleted
// with the topic (its partitions' objects stay). A data directory with no
// topics (fresh or wiped) is rebuilt from it at Open: each topic is
// recreated, and each partition whose manifest holds offsets gets an empty
// local log starting at the manifest's RemoteEnd, so the bucket serves
// everything below it and new appends never reuse an offset; records that
// were never uploaded are lost. Bucket errors during recovery and the
// rebuild are retried, with backoff and a log line each, until they succeed
// or Open's context ends: a broker started while its bucket is unreachable
// waits for it, not ready, instead of failing.
//
// Invariants:
//   - A change is published only after it is persisted; a crash between
//     creating partition directories and persisting leaves orphan
//     directories, which Open deletes.
//   - Producer IDs never repeat, across restarts: blocks of IDs are
//     reserved in meta.json before they are handed out.
//   - Responses on a connection are written in request order; acks=0
//     produce requests get none.
//
// # Tiering
//
// With a bucket (tier.go), every partition is tiered: Open and topic
// creation take over its manifest (tiering.Acquire, a higher epoch than any
// earlier broker's), tell the local log the remote end and register it with
// the one Uploader, which locallog's OnSeal hook wakes. The uploader
// commits each sealed segment to the manifest and then moves the local
// log's remote end, after which local retention (local.retention.ms,
// local.retention.bytes) may delete it; retention.ms and retention.bytes
// apply to the remote tier (retainRemote). Every read resolves its offset
// once (resolve.go): below the manifest's RemoteEnd to one segment object,
// from it on to the local log; nothing is merged or deduplicated. The
// effective log start is the manifest's when the remote tier holds
// offsets. Deleting a topic stops its uploads but leaves its objects in
// the bucket, under a topic ID that is never reused.
//
// # Consumer groups
//
// The group coordinator (group.go) implements Kafka's classic group
// protocol for every group on this broker (FindCoordinator always answers
// this broker): JoinGroup, SyncGroup, Heartbeat and LeaveGroup drive each
// group through Empty, PreparingRebalance, CompletingRebalance and Stable
// as Kafka's GroupCoordinator does, with static members, session and
// rebalance timeouts on real-time timers, and Kafka's errors for stale
// generations, unknown or fenced members and commits during a rebalance.
// JoinGroup and a follower's SyncGroup wait in their reply's finish.
// Committed offsets and the last Stable generation of each group are kept
// in DataDir/groups (one fsynced file per group, written before a commit
// is answered) and, with a bucket, copied behind to
// groups/<hex group id>/group.json (group_store.go), from which a data
// directory without a groups directory is rebuilt at Open. Offsets of
// groups without members expire after Config.OffsetsRetention.
//
// # Authorization
//
// With authentication on (Config.authenticationOn) every handler asks
// Broker.allowed (authorize.go) for what Kafka's KafkaApis asks, and a
// refused part of a request gets the Kafka error of its resource; the
// ACLs are kept in DataDir/security/acls.json and the bucket's
// security/acls.json (acls_store.go). With it off, b.authz is nil and
// everything is allowed.
//
// # Lock order
//
//  1. Broker.adminMu — metadata changes and their persistence, producer-ID
//     allocation. Held across disk writes, never across a wait on clients.
//  2. tiering's locks (Uploader.Remove waits for an upload under adminMu)
//     and locallog's own locks, taken inside their calls.
//
// Broker.aclMu serializes ACL changes and is held across their disk and
// bucket writes; nothing else is taken under it (the ACLs' own lock is
// auth's, inside its calls).
//
// Broker.usersMu serializes user changes and their persistence (the local
// file, then the bucket); nothing else is taken while holding it.
// Broker.connMu (the connection set) and Broker.stateMu (Run/Close state)
// are leaves: nothing else is taken while holding them. So are the group
// coordinator's locks, which are taken apart from the above: a group's
// group.mu (held across that group's file writes), then, as a leaf,
// coordinator.mu (the map of groups) or groupStore.mu (the bucket queue).
package broker
