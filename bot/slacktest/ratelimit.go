package slacktest

import (
	"net/http"
	"time"
)

// RateLimit is a token bucket for one Web API method: Burst calls at once,
// then one more every Every. A call that finds the bucket empty answers
// HTTP 429 with Retry-After, the whole seconds until a call would pass.
type RateLimit struct {
	Every      time.Duration
	Burst      int  // at least 1
	PerChannel bool // one bucket per channel, as chat.postMessage has; else one per method
}

// SlackRateLimits are Slack's published limits ("Rate limits", Web API
// docs) as token buckets, for Config.RateLimits. Slack publishes rates per
// minute ("Tier 2: 20+", "Tier 3: 50+", "Tier 4: 100+") and bursts only in
// words, so the bursts here are this fake's reading of them:
//
//   - chat.postMessage: special tier, "one message per second per
//     channel", "short bursts >1 allowed": 1/s per channel, bursts of 3.
//     (Its workspace-wide limit is not published and not modelled.)
//   - chat.update, chat.delete, apps.connections.open: Tier 3, 50/min,
//     bursts of 5.
//   - chat.postEphemeral, users.info: Tier 4, 100/min, bursts of 10.
//   - usergroups.users.list: Tier 2, 20/min, bursts of 2.
//
// auth.test and chat.getPermalink (special tiers of hundreds per minute)
// and response_url posts are not limited.
func SlackRateLimits() map[string]RateLimit {
	tier := func(perMinute, burst int) RateLimit {
		return RateLimit{Every: time.Minute / time.Duration(perMinute), Burst: burst}
	}
	return map[string]RateLimit{
		"chat.postMessage":      {Every: time.Second, Burst: 3, PerChannel: true},
		"chat.update":           tier(50, 5),
		"chat.delete":           tier(50, 5),
		"apps.connections.open": tier(50, 5),
		"chat.postEphemeral":    tier(100, 10),
		"users.info":            tier(100, 10),
		"usergroups.users.list": tier(20, 2),
	}
}

// bucket is the state of one token bucket.
type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// limitKey names what a rate limit applies to: a method, or a method in
// one channel.
func limitKey(method, channel string, perChannel bool) string {
	if perChannel {
		return method + "\x00" + channel
	}
	return method
}

// perChannel reports whether method's limits apply per channel: as
// configured, and chat.postMessage's always (Slack limits it per channel,
// also for RateLimit's injected 429s).
func (s *Server) perChannel(method string) bool {
	if rl, found := s.cfg.RateLimits[method]; found {
		return rl.PerChannel
	}
	return method == "chat.postMessage"
}

// earlyLocked reports whether a call comes before the Retry-After of the
// last 429 answered for the same method (and channel) has passed.
func (s *Server) earlyLocked(key string, now time.Time) bool {
	until, found := s.web.retryUntil[key]
	return found && now.Before(until)
}

// limitLocked takes a token from the method's bucket, or answers 429.
func (s *Server) limitLocked(method, key string, now time.Time) (apiResult, bool) {
	rl, found := s.cfg.RateLimits[method]
	if !found || rl.Every <= 0 {
		return apiResult{}, false
	}
	burst := float64(max(rl.Burst, 1))
	b := s.web.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		s.web.buckets[key] = b
	}
	b.tokens = min(burst, b.tokens+float64(now.Sub(b.at))/float64(rl.Every))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return apiResult{}, false
	}
	wait := time.Duration((1 - b.tokens) * float64(rl.Every))
	return rateLimited(int((wait + time.Second - 1) / time.Second)), true
}

// rateLimited is Slack's 429: {"ok":false,"error":"ratelimited"} with
// Retry-After in whole seconds, at least 1.
func rateLimited(secs int) apiResult {
	return apiResult{
		status:     http.StatusTooManyRequests,
		retryAfter: max(secs, 1),
		body:       map[string]any{"ok": false, "error": "ratelimited"},
	}
}

// EarlyCalls lists the calls made before the Retry-After of an earlier 429
// for the same method had passed (for chat.postMessage: the same channel),
// whether the 429 came from Config.RateLimits or from RateLimit. A bot that
// honours Retry-After makes none.
func (s *Server) EarlyCalls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.web.calls {
		if c.Early {
			c.Params = cloneValues(c.Params)
			out = append(out, c)
		}
	}
	return out
}
