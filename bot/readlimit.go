package bot

import (
	"sync"
	"time"
)

// Each status and history can cost Commvault reads, and a tenant has about
// 1,000 an hour: one person may ask readsPerMinute of them a minute.
const (
	readsPerMinute = 10
	readWindow     = time.Minute
)

// readLimit counts, per user, the status and history commands of the last
// readWindow.
type readLimit struct {
	mu    sync.Mutex
	asked map[string][]time.Time // user → when they asked, oldest first, within the window
}

func newReadLimit() readLimit { return readLimit{asked: make(map[string][]time.Time)} }

// take counts one read for user at now, if the user has one left; else it
// says how long until the next.
func (l *readLimit) take(user string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.asked) > 1024 { // forget who has not asked within the window, so the map stays small
		for u, times := range l.asked {
			if len(times) == 0 || now.Sub(times[len(times)-1]) >= readWindow {
				delete(l.asked, u)
			}
		}
	}
	times := l.asked[user]
	for len(times) > 0 && now.Sub(times[0]) >= readWindow {
		times = times[1:]
	}
	if len(times) >= readsPerMinute {
		l.asked[user] = times
		return false, readWindow - now.Sub(times[0])
	}
	l.asked[user] = append(times, now)
	return true, 0
}
