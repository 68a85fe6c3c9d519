package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/internal/failpoint"
)

// httpShutdownTimeout bounds how long in-flight HTTP requests may run after
// shutdown begins.
const httpShutdownTimeout = 3 * time.Second

// serve runs the broker and the HTTP endpoints until ctx is cancelled, then
// shuts both down and returns once every goroutine it started has exited.
// A shutdown caused by ctx returns nil. started, if not nil, is called with
// the bound Kafka and HTTP addresses once the broker is open; /readyz turns
// 200 a moment later, when the broker starts serving.
func serve(ctx context.Context, o serveOptions, log *slog.Logger, started func(kafkaAddr, httpAddr string)) error {
	// HTTP comes up first so that /healthz answers and /readyz says 503
	// while the broker recovers its data directory.
	httpLn, err := net.Listen("tcp", o.HTTPListen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	httpAddr := httpLn.Addr().String()
	log.Info("http listener ready", "addr", httpAddr)
	var ref brokerRef
	srv := &http.Server{
		Handler:           newHTTPHandler(&ref),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Whatever ends first (signal, broker exit, HTTP failure) stops the rest.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", "cause", context.Cause(gctx))
		sctx, scancel := context.WithTimeout(context.WithoutCancel(gctx), httpShutdownTimeout)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("http shutdown: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		defer cancel()
		cfg := o.Broker
		cfg.Logger = log
		if failpoint.Enabled {
			if at := os.Getenv("STRATA_CRASH_AT"); at != "" {
				log.Warn("crash failpoint armed", "at", at)
			}
		}
		b, err := broker.Open(gctx, cfg)
		if err != nil {
			if gctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil // stopped during recovery
			}
			return err // already says "open broker"
		}
		ref.set(b)
		log.Info("kafka listener bound", "addr", b.Addr())
		if started != nil {
			started(b.Addr(), httpAddr)
		}
		if err := b.Run(gctx); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		return nil
	})
	return g.Wait()
}
