package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// maxRateLimitWaits bounds how often one message waits out a 429 before
// the error is given up to the caller (who logs it).
const maxRateLimitWaits = 8

// updateTimeout bounds the sending of one parent update, rate limits waited
// out included.
const updateTimeout = 5 * time.Minute

// SlackChat is the Chat of the Slack Web API, shaped by Slack's rate
// limits (chat.postMessage about one a second per channel; chat.update
// Tier 3, about 50 a minute for the workspace; chat.postEphemeral Tier 4):
//   - messages to one channel go out one at a time, in order, so a thread's
//     replies never overtake each other;
//   - the calls of one kind (a method, and for chat.postMessage a channel:
//     what Slack limits together) are made one at a time, and a 429 holds
//     them all back until its Retry-After has passed, so no call is made
//     before Slack allows it (not even one already on its way when another
//     got the 429), and messages are delayed but never lost;
//   - updates of a message are cosmetic: they are sent apart from the posts,
//     never hold up a reply with IDs or a job's end, and successive ones of
//     one message are coalesced (only the latest is sent).
type SlackChat struct {
	api     *slack.Client
	metrics *Metrics
	http    *http.Client // for response_url posts
	log     *zap.Logger

	mu      sync.Mutex
	queues  map[string]chan struct{}  // by rate-limit key: a one-slot lock that gives up with its context, first come first served
	gates   map[string]time.Time      // by rate-limit key: no call before this
	updates map[string]*pendingUpdate // by channel and ts: the latest content not sent yet
	sending sync.WaitGroup            // update senders
}

// pendingUpdate is the latest content of a message waiting to be sent.
type pendingUpdate struct {
	m       Message
	fresh   bool // m is not sent yet
	running bool // a sender runs for this message
}

// NewSlackChat returns a Chat that posts through api; m may be nil.
func NewSlackChat(api *slack.Client, log *zap.Logger, m *Metrics) *SlackChat {
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	return &SlackChat{api: api, metrics: m, http: &http.Client{Timeout: 30 * time.Second}, log: log,
		queues: make(map[string]chan struct{}), gates: make(map[string]time.Time), updates: make(map[string]*pendingUpdate)}
}

// queue is the one-slot lock of a rate-limit key.
func (c *SlackChat) queue(key string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.queues[key]
	if !ok {
		q = make(chan struct{}, 1)
		c.queues[key] = q
	}
	return q
}

// inOrder runs call for channel, after the channel's earlier messages: they
// share chat.postMessage's rate-limit key, whose calls are made in turn.
func (c *SlackChat) inOrder(ctx context.Context, channel, method string, call func() error) error {
	return c.limited(ctx, method+" "+channel, method, call)
}

// limited runs call once the earlier calls of its rate-limit key are done
// and the key allows, and again after each 429 once its Retry-After has
// passed (for every call of that key). One call of a key is made at a time:
// calls made together would find the 429 of one of them only once they
// are on their way, too early.
func (c *SlackChat) limited(ctx context.Context, key, method string, call func() error) error {
	q := c.queue(key)
	select {
	case q <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("slack %s: waiting for the earlier calls: %w", method, ctx.Err())
	}
	defer func() { <-q }()
	for attempt := 1; ; attempt++ {
		if err := c.await(ctx, key); err != nil {
			return fmt.Errorf("slack %s: waiting out a rate limit: %w", method, err)
		}
		err := call()
		var rl *slack.RateLimitedError
		switch {
		case errors.As(err, &rl):
			c.metrics.slackCalls.WithLabelValues(method, "rate_limited").Inc()
		case err != nil:
			c.metrics.slackCalls.WithLabelValues(method, "error").Inc()
		}
		if !errors.As(err, &rl) || attempt > maxRateLimitWaits {
			if err != nil {
				return fmt.Errorf("slack %s: %w", method, err)
			}
			return nil
		}
		wait := max(rl.RetryAfter, time.Second)
		c.log.Warn("slack rate limit", zap.String("method", method), zap.String("key", key), zap.Duration("wait", wait))
		c.hold(key, wait)
	}
}

// hold keeps the calls of key back for d.
func (c *SlackChat) hold(key string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until := time.Now().Add(d); until.After(c.gates[key]) {
		c.gates[key] = until
	}
}

// await waits until key's calls are allowed.
func (c *SlackChat) await(ctx context.Context, key string) error {
	for {
		c.mu.Lock()
		wait := time.Until(c.gates[key])
		c.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func msgOptions(m Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl()}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	return opts
}

// Post posts m in channel.
func (c *SlackChat) Post(ctx context.Context, channel string, m Message) (string, error) {
	var ts string
	err := c.inOrder(ctx, channel, "chat.postMessage", func() (err error) {
		_, ts, err = c.api.PostMessageContext(ctx, channel, msgOptions(m)...)
		return err
	})
	return ts, err
}

// Reply posts m in the thread of threadTS.
func (c *SlackChat) Reply(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	var ts string
	err := c.inOrder(ctx, channel, "chat.postMessage", func() (err error) {
		_, ts, err = c.api.PostMessageContext(ctx, channel, append(msgOptions(m), slack.MsgOptionTS(threadTS))...)
		return err
	})
	return ts, err
}

// Update replaces the message ts, in the background: it returns at once,
// and a later Update of the same message before this one was sent replaces
// it. With no blocks, the old blocks are cleared. Flush waits for the
// updates under way.
func (c *SlackChat) Update(_ context.Context, channel, ts string, m Message) error {
	key := channel + " " + ts
	c.mu.Lock()
	u, ok := c.updates[key]
	if !ok {
		u = &pendingUpdate{}
		c.updates[key] = u
	}
	u.m, u.fresh = m, true
	start := !u.running
	u.running = true
	c.mu.Unlock()
	if start {
		c.sending.Add(1)
		go c.sendUpdates(channel, ts, key)
	}
	return nil
}

// sendUpdates sends the latest content of one message until none is left.
// The content is taken as the call is made (after the other messages'
// updates and any Retry-After), so what changed meanwhile is sent once.
func (c *SlackChat) sendUpdates(channel, ts, key string) {
	defer c.sending.Done()
	for c.fresh(key) {
		ctx, cancel := context.WithTimeout(context.Background(), updateTimeout)
		err := c.limited(ctx, "chat.update", "chat.update", func() error {
			m, ok := c.latest(key)
			if !ok {
				return nil // sent by the call before a 429
			}
			opts := []slack.MsgOption{slack.MsgOptionText(fitText(m.Text, maxUpdateText), false), slack.MsgOptionBlocks(m.Blocks...)}
			_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, opts...)
			var rl *slack.RateLimitedError
			if errors.As(err, &rl) {
				c.unsent(key, m) // Slack did not take it: sent again, unless newer content comes
			}
			return err
		})
		cancel()
		if err != nil {
			c.log.Error("update a message", zap.String("channel", channel), zap.String("ts", ts), zap.Error(err))
		}
	}
}

// fresh reports whether message key has content not sent yet; when it has
// none, its sender stops (and the next Update starts another).
func (c *SlackChat) fresh(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u := c.updates[key]; u.fresh {
		return true
	}
	delete(c.updates, key)
	return false
}

// latest takes message key's content not sent yet, if any.
func (c *SlackChat) latest(key string) (Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.updates[key]
	if !u.fresh {
		return Message{}, false
	}
	u.fresh = false
	return u.m, true
}

// unsent marks m, which Slack did not take, as message key's content to
// send, unless newer content came meanwhile.
func (c *SlackChat) unsent(key string, m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u := c.updates[key]; !u.fresh {
		u.m, u.fresh = m, true
	}
}

// Flush waits, until ctx ends, for the updates under way to be sent.
func (c *SlackChat) Flush(ctx context.Context) error {
	done := make(chan struct{})
	go func() { c.sending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("slack: updates still being sent: %w", ctx.Err())
	}
}

// Delete removes the bot's own message ts (chat.delete).
func (c *SlackChat) Delete(ctx context.Context, channel, ts string) error {
	return c.limited(ctx, "chat.delete", "chat.delete", func() error {
		_, _, err := c.api.DeleteMessageContext(ctx, channel, ts)
		return err
	})
}

// Ephemeral shows m to the sender of to: through its response_url when it
// has one (it works in channels the bot is not in), else, or when that
// fails, with chat.postEphemeral.
func (c *SlackChat) Ephemeral(ctx context.Context, to Input, m Message) error {
	if url := to.ResponseURL; url != "" {
		msg := &slack.WebhookMessage{Text: m.Text, ResponseType: slack.ResponseTypeEphemeral}
		if len(m.Blocks) > 0 {
			msg.Blocks = &slack.Blocks{BlockSet: m.Blocks}
		}
		err := slack.PostWebhookCustomHTTPContext(ctx, url, c.http, msg)
		if err == nil {
			return nil
		}
		c.log.Warn("response_url post; trying chat.postEphemeral", zap.Error(withoutURL(err)))
	}
	return c.limited(ctx, "chat.postEphemeral", "chat.postEphemeral", func() error {
		_, err := c.api.PostEphemeralContext(ctx, to.Channel, to.User, msgOptions(m)...)
		return err
	})
}

// withoutURL drops the URL from an HTTP error: a response_url lets anyone
// post in the channel for half an hour, so it must not reach the log.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Permalink links to the message ts (chat.getPermalink).
func (c *SlackChat) Permalink(ctx context.Context, channel, ts string) (string, error) {
	link, err := c.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: channel, Ts: ts})
	if err != nil {
		return "", fmt.Errorf("slack chat.getPermalink: %w", err)
	}
	return link, nil
}
