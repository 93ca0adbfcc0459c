package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
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

// opsHandler serves /healthz (the process serves), /readyz (each check by
// name: "✓ name" or "✗ name"; why a check fails goes to the log, never to
// whoever can reach the port) and /metrics (at most maxScrapes at once).
func opsHandler(reg *prometheus.Registry, checks []readiness, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	unready := &unreadyLog{log: log, last: map[string]unreadyEntry{}}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var lines []string
		failed := false
		for _, c := range checks {
			err := c.check(ctx)
			unready.note(c.name, err)
			if err != nil {
				failed = true
				lines = append(lines, "✗ "+c.name)
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg,
		MaxRequestsInFlight: maxScrapes, Timeout: scrapeTimeout}))
	addProfiling(mux) // only in the load suite's build
	return mux
}

// Bounds of the ops endpoint: scrapes of /metrics served at once (more are
// answered 503), and how long one may take.
const (
	maxScrapes    = 4
	scrapeTimeout = 10 * time.Second
)

// unreadyLogEvery is how often a check that keeps failing for the same
// reason is logged again: a probe every few seconds must not flood the log.
const unreadyLogEvery = time.Minute

// unreadyLog logs why readiness checks fail: when a check starts failing
// or its reason changes, then at most once per unreadyLogEvery, and when it
// passes again.
type unreadyLog struct {
	log  *zap.Logger
	mu   sync.Mutex
	last map[string]unreadyEntry // by check name
}

type unreadyEntry struct {
	reason string
	at     time.Time
}

func (u *unreadyLog) note(name string, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	prev, failing := u.last[name]
	if err == nil {
		if failing {
			delete(u.last, name)
			u.log.Info("readiness check passes again", zap.String("check", name))
		}
		return
	}
	now := time.Now()
	if failing && prev.reason == err.Error() && now.Sub(prev.at) < unreadyLogEvery {
		return
	}
	u.last[name] = unreadyEntry{reason: err.Error(), at: now}
	u.log.Warn("readiness check fails", zap.String("check", name), zap.Error(err))
}

// opsServer is the HTTP server of the ops endpoint: every phase of a
// request is bounded, so that slow or idle clients cannot hold
// connections (and goroutines) open.
func opsServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      scrapeTimeout + 5*time.Second, // a scrape gets its time, and its answer is written
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// serveOps serves h on addr until ctx ends. It returns once listening, or
// with the error that kept it from listening.
func serveOps(ctx context.Context, addr string, h http.Handler, log *zap.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("BACKUPBOT_HTTP_ADDR: listen on %s: %w", addr, err)
	}
	srv := opsServer(h)
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
