package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaVersion is the Kafka version sarama is told to speak, the newest
// sarama v1.61.1 knows: with it sarama sends ApiVersions v4, Metadata v11,
// InitProducerId v4, Produce v10 and Fetch v12.
var saramaVersion = sarama.V4_3_1_0

func saramaConfig(codec sarama.CompressionCodec) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "strata-e2e"
	cfg.Version = saramaVersion
	cfg.Net.MaxOpenRequests = 1 // required by sarama's idempotent producer
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = codec
	// Batch what SendMessages hands over: flush at 50 messages or after
	// 5ms, whichever comes first (Messages alone would hold a lone
	// SendMessage forever).
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	return cfg
}

func TestSaramaProduceConsume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startBroker(t, t.TempDir())

	const (
		n          = 600
		partitions = 2
	)
	// A fixed creation time, to millisecond precision, that the broker must
	// hand back unchanged.
	base := time.UnixMilli(1_700_000_000_000)
	message := func(topic string, i int) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{
			Topic:     topic,
			Partition: int32(i % partitions),
			Key:       sarama.StringEncoder(fmt.Sprintf("sarama-key-%d", i)),
			Value:     sarama.ByteEncoder(append(fmt.Appendf(nil, "sarama-value-%d|", i), bytes.Repeat([]byte("xyz"), i%100)...)),
			Headers: []sarama.RecordHeader{
				{Key: []byte("i"), Value: []byte(strconv.Itoa(i))},
				{Key: []byte("empty"), Value: []byte{}},
			},
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
	}

	for _, codec := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionZSTD} {
		t.Run(codec.String(), func(t *testing.T) {
			topic := "sarama-" + codec.String()
			createTopic(t, ctx, p, topic, partitions)
			cfg := saramaConfig(codec)

			prod, err := sarama.NewSyncProducer([]string{p.kafkaAddr}, cfg)
			if err != nil {
				t.Fatalf("sarama.NewSyncProducer (version %s): %v", cfg.Version, err)
			}
			closeProd := sync.OnceValue(prod.Close) // sarama panics on a second Close
			defer closeProd()
			// The first half one at a time: each ack names its place.
			for i := range n / 2 {
				part, off, err := prod.SendMessage(message(topic, i))
				if err != nil {
					t.Fatalf("SendMessage %d: %v", i, err)
				}
				if want := int64(i / partitions); part != int32(i%partitions) || off != want {
					t.Fatalf("SendMessage %d acked at %d@%d, want %d@%d", i, part, off, i%partitions, want)
				}
			}
			// The second half as one call, which sarama batches.
			var msgs []*sarama.ProducerMessage
			for i := n / 2; i < n; i++ {
				msgs = append(msgs, message(topic, i))
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatalf("SendMessages: %v", err)
			}
			for k, m := range msgs {
				i := n/2 + k
				if want := int64(i / partitions); m.Offset != want {
					t.Fatalf("SendMessages record %d acked at %d@%d, want %d@%d", i, m.Partition, m.Offset, i%partitions, want)
				}
			}
			if err := closeProd(); err != nil {
				t.Fatalf("close sarama producer: %v", err)
			}

			consumer, err := sarama.NewConsumer([]string{p.kafkaAddr}, cfg)
			if err != nil {
				t.Fatalf("sarama.NewConsumer: %v", err)
			}
			defer consumer.Close()
			for part := range int32(partitions) {
				pc, err := consumer.ConsumePartition(topic, part, sarama.OffsetOldest)
				if err != nil {
					t.Fatalf("ConsumePartition %s/%d: %v", topic, part, err)
				}
				for k := range n / partitions {
					var got *sarama.ConsumerMessage
					select {
					case got = <-pc.Messages():
					case cerr := <-pc.Errors():
						t.Fatalf("consume %s/%d: %v", topic, part, cerr)
					case <-ctx.Done():
						t.Fatalf("consume %s/%d: %v after %d of %d records", topic, part, ctx.Err(), k, n/partitions)
					}
					if err := sameSaramaMessage(got, message(topic, k*partitions+int(part)), int64(k)); err != nil {
						t.Fatalf("consume %s/%d record %d: %v", topic, part, k, err)
					}
				}
				if hwm := pc.HighWaterMarkOffset(); hwm != n/partitions {
					t.Errorf("%s/%d: sarama saw high watermark %d, want %d", topic, part, hwm, n/partitions)
				}
				if err := pc.Close(); err != nil {
					t.Errorf("close partition consumer %s/%d: %v", topic, part, err)
				}
			}
		})
	}
}

// sameSaramaMessage reports how got differs from the message that was sent
// as want and acknowledged at offset.
func sameSaramaMessage(got *sarama.ConsumerMessage, want *sarama.ProducerMessage, offset int64) error {
	wantKey, _ := want.Key.Encode()
	wantValue, _ := want.Value.Encode()
	switch {
	case got.Offset != offset || got.Partition != want.Partition:
		return fmt.Errorf("at %d@%d, want %d@%d", got.Partition, got.Offset, want.Partition, offset)
	case !bytes.Equal(got.Key, wantKey):
		return fmt.Errorf("key %q, want %q", got.Key, wantKey)
	case !bytes.Equal(got.Value, wantValue):
		return fmt.Errorf("value %q, want %q", got.Value, wantValue)
	case !got.Timestamp.Equal(want.Timestamp):
		return fmt.Errorf("timestamp %v, want %v", got.Timestamp, want.Timestamp)
	case len(got.Headers) != len(want.Headers):
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i, h := range got.Headers {
		w := want.Headers[i]
		if !bytes.Equal(h.Key, w.Key) || !bytes.Equal(h.Value, w.Value) {
			return fmt.Errorf("header %d is %q=%q, want %q=%q", i, h.Key, h.Value, w.Key, w.Value)
		}
	}
	return nil
}
