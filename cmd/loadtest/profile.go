package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profileKinds are what -profile takes of each bot during the burst: CPU,
// the delta of the block and mutex profiles over the same window, and an
// execution trace (go tool trace).
var profileKinds = []string{"profile", "block", "mutex", "trace", "allocs"}

// profile fetches, from every bot built with -tags loadprofile, its
// profiles (profileKinds) over the next -profile-seconds, into -profile's
// directory as RUN-replica-K.KIND.pprof; wait waits for them.
func (w *world) profile(ctx context.Context) (wait func()) {
	dir, secs := w.s.opts.profile, w.s.opts.profileSeconds
	if dir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	for i, p := range w.bots {
		for _, kind := range profileKinds {
			wg.Go(func() {
				name := filepath.Join(dir, fmt.Sprintf("%s-replica-%d.%s.pprof", w.sc.key, i+1, kind))
				if err := p.fetchProfile(ctx, kind, secs, name); err != nil {
					w.note("profile %s of %s: %v", kind, p.name, err)
				}
			})
		}
	}
	sleep(ctx, 200*time.Millisecond) // the profiles start before the burst
	return wg.Wait
}

// fetchProfile writes /debug/pprof/KIND?seconds=secs of the bot to name.
func (p *botProc) fetchProfile(ctx context.Context, kind string, secs int, name string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", p.addr, kind, secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d (a bot built without -tags loadprofile?)", url, resp.StatusCode)
	}
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
