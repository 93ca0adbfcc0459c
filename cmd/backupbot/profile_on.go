//go:build loadprofile

package main

// Built only by the load suite (`go run ./cmd/loadtest -profile DIR` builds
// the bot with -tags loadprofile): the ops server also serves
// net/http/pprof, with block and mutex profiling on, so that the suite can
// profile a burst. A production build has none of it.

import (
	"net/http"
	"net/http/pprof"
	"runtime"
)

// addProfiling serves /debug/pprof/ on mux and turns on block and mutex
// profiling.
func addProfiling(mux *http.ServeMux) {
	runtime.SetBlockProfileRate(10_000) // a sample per 10 µs blocked
	runtime.SetMutexProfileFraction(10)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
