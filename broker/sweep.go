package broker

import (
	"context"
	"errors"
	"time"

	"github.com/strata-io/strata/tiering"
)

// runSweep deletes the orphan objects of every tiered partition (objects
// of failed or abandoned uploads that no manifest references; see
// tiering.Uploader.Sweep) every SweepInterval until ctx ends. Only objects
// older than OrphanAge are candidates.
func (b *Broker) runSweep(ctx context.Context) {
	every(ctx, b.cfg.SweepInterval, b.sweepOnce)
}

// every runs fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn(ctx)
	}
}

// sweepOnce sweeps every tiered partition once.
func (b *Broker) sweepOnce(ctx context.Context) {
	for _, tp := range b.topics().byName {
		for _, p := range tp.partitions {
			if ctx.Err() != nil {
				return
			}
			if p.tier == nil || p.tier.w.Fenced() {
				continue
			}
			_, err := b.tiers.uploader.Sweep(ctx, p.tier.prefix, p.tier.w, b.cfg.OrphanAge)
			if err != nil && ctx.Err() == nil && !errors.Is(err, tiering.ErrFenced) {
				b.logger.Warn("orphan sweep", "topic", p.topic, "partition", p.index, "err", err)
			}
		}
	}
}
