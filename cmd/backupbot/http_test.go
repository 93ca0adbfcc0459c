package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// /readyz names the failing check and nothing of why: the reason (hosts,
// dial errors) goes to the log, once per change rather than once per probe.
func TestReadyzNamesTheCheckOnly(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var reason atomic.Pointer[error]
	dbDown := errors.New("dial tcp 10.0.4.17:5432: connect: connection refused")
	reason.Store(&dbDown)
	checks := []readiness{
		{"policy loaded", func(context.Context) error { return nil }},
		{"database reachable", func(context.Context) error { return *reason.Load() }},
	}
	srv := httptest.NewServer(opsHandler(prometheus.NewRegistry(), checks, zap.New(core)))
	t.Cleanup(srv.Close)
	probe := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for range 20 { // a probe every few seconds, for a minute
		code, body := probe()
		if code != http.StatusServiceUnavailable || body != "✓ policy loaded\n✗ database reachable\n" {
			t.Fatalf("/readyz = %d %q, want 503 naming the failing check and nothing else", code, body)
		}
	}
	failing := logs.FilterMessage("readiness check fails")
	if failing.Len() != 1 || !strings.Contains(failing.All()[0].ContextMap()["error"].(string), "10.0.4.17") {
		t.Fatalf("log = %v, want the reason once", failing.All())
	}
	other := errors.New("ping: context deadline exceeded")
	reason.Store(&other)
	probe()
	probe()
	if n := logs.FilterMessage("readiness check fails").Len(); n != 2 {
		t.Errorf("%d failure lines after the reason changed, want 2", n)
	}
	var ok error
	reason.Store(&ok)
	if code, body := probe(); code != http.StatusOK || body != "✓ policy loaded\n✓ database reachable\n" {
		t.Errorf("/readyz = %d %q, want 200", code, body)
	}
	if n := logs.FilterMessage("readiness check passes again").Len(); n != 1 {
		t.Errorf("%d recovery lines, want 1", n)
	}
}

// blockingCollector holds every Collect until released, and says when one
// is under way.
type blockingCollector struct {
	desc    *prometheus.Desc
	entered chan struct{}
	release chan struct{}
}

func (c blockingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c blockingCollector) Collect(ch chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
}

// Scrapes of /metrics are served maxScrapes at a time: the next is refused
// at once rather than queued behind them.
func TestMetricsScrapesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := blockingCollector{desc: prometheus.NewDesc("backupbot_test_slow", "a slow collector", nil, nil),
		entered: make(chan struct{}, maxScrapes+1), release: make(chan struct{})}
	reg.MustRegister(c)
	srv := httptest.NewServer(opsHandler(reg, nil, zap.NewNop()))
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	codes := make(chan int, maxScrapes)
	for range maxScrapes {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	for range maxScrapes {
		<-c.entered // every one of them is being served
	}
	// Refused at once; a client bound keeps a missing limit from hanging the test.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(srv.URL + "/metrics")
	switch {
	case err != nil:
		t.Errorf("scrape %d while %d are served: %v, want 503 at once (it was queued)", maxScrapes+1, maxScrapes, err)
	case resp.StatusCode != http.StatusServiceUnavailable:
		resp.Body.Close()
		t.Errorf("scrape %d while %d are served = %d, want 503", maxScrapes+1, maxScrapes, resp.StatusCode)
	default:
		resp.Body.Close()
	}
	close(c.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a bounded scrape = %d, want 200", code)
		}
	}
}

// Every phase of a request to the ops endpoint has a bound.
func TestOpsServerTimeouts(t *testing.T) {
	s := opsServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= scrapeTimeout || s.IdleTimeout <= 0 || s.MaxHeaderBytes <= 0 {
		t.Errorf("server = read header %v, read %v, write %v, idle %v, header bytes %d; want every one bounded, write past a scrape's %v",
			s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes, scrapeTimeout)
	}
}
