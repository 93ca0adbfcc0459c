package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// readiness is one check /readyz runs; it returns nil when ready.
type readiness struct {
	name  string
	check func(ctx context.Context) error
}

// lateCheck is a readiness check for something that comes up after the
// HTTP server: "starting" until set.
type lateCheck struct {
	f atomic.Pointer[func(context.Context) error]
}

func (l *lateCheck) set(f func(context.Context) error) { l.f.Store(&f) }

func (l *lateCheck) check(ctx context.Context) error {
	if f := l.f.Load(); f != nil {
		return (*f)(ctx)
	}
	return errors.New("starting")
}

// opsHandler serves /healthz (the process serves), /readyz (each check,
// the body naming the ones that fail) and /metrics.
func opsHandler(reg *prometheus.Registry, checks []readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var lines []string
		failed := false
		for _, c := range checks {
			if err := c.check(ctx); err != nil {
				failed = true
				lines = append(lines, fmt.Sprintf("✗ %s: %v", c.name, err))
				continue
			}
			lines = append(lines, "✓ "+c.name)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if failed {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	addProfiling(mux) // only in the load suite's build
	return mux
}

// serveOps serves h on addr until ctx ends. It returns once listening, or
// with the error that kept it from listening.
func serveOps(ctx context.Context, addr string, h http.Handler, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("BACKUPBOT_HTTP_ADDR: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", zap.Error(err))
		}
	}()
	log.Info("serving /healthz, /readyz and /metrics", zap.String("addr", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
