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

// SlackChat is the Chat of the Slack Web API. Messages to one channel go
// out one at a time, in order; a 429 makes that channel wait Retry-After
// and send again, so rate limits delay messages but lose none.
type SlackChat struct {
	api     *slack.Client
	metrics *Metrics
	http    *http.Client // for response_url posts
	log     *zap.Logger

	mu     sync.Mutex
	queues map[string]chan struct{} // by channel: a one-slot lock that gives up with its context
}

// NewSlackChat returns a Chat that posts through api; m may be nil.
func NewSlackChat(api *slack.Client, log *zap.Logger, m *Metrics) *SlackChat {
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	return &SlackChat{api: api, metrics: m, http: &http.Client{Timeout: 30 * time.Second}, log: log, queues: make(map[string]chan struct{})}
}

// channel serialises the messages to one channel.
func (c *SlackChat) channel(id string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, ok := c.queues[id]
	if !ok {
		q = make(chan struct{}, 1)
		c.queues[id] = q
	}
	return q
}

// send runs call for channel, in order, waiting out rate limits.
func (c *SlackChat) send(ctx context.Context, channel, method string, call func() error) error {
	q := c.channel(channel)
	select {
	case q <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("slack %s: waiting for the channel's earlier messages: %w", method, ctx.Err())
	}
	defer func() { <-q }()
	for attempt := 1; ; attempt++ {
		err := call()
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			c.metrics.slackCalls.WithLabelValues(method, "rate_limited").Inc()
		} else if err != nil {
			c.metrics.slackCalls.WithLabelValues(method, "error").Inc()
		}
		if !errors.As(err, &rl) || attempt > maxRateLimitWaits {
			if err != nil {
				return fmt.Errorf("slack %s: %w", method, err)
			}
			return nil
		}
		wait := max(rl.RetryAfter, time.Second)
		c.log.Warn("slack rate limit", zap.String("method", method), zap.String("channel", channel), zap.Duration("wait", wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("slack %s: waiting out a rate limit: %w", method, ctx.Err())
		case <-time.After(wait):
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
	err := c.send(ctx, channel, "chat.postMessage", func() (err error) {
		_, ts, err = c.api.PostMessageContext(ctx, channel, msgOptions(m)...)
		return err
	})
	return ts, err
}

// Reply posts m in the thread of threadTS.
func (c *SlackChat) Reply(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	var ts string
	err := c.send(ctx, channel, "chat.postMessage", func() (err error) {
		_, ts, err = c.api.PostMessageContext(ctx, channel, append(msgOptions(m), slack.MsgOptionTS(threadTS))...)
		return err
	})
	return ts, err
}

// Update replaces the message ts. With no blocks, the old blocks are cleared.
func (c *SlackChat) Update(ctx context.Context, channel, ts string, m Message) error {
	opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...)}
	return c.send(ctx, channel, "chat.update", func() error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, opts...)
		return err
	})
}

// Delete removes the bot's own message ts (chat.delete).
func (c *SlackChat) Delete(ctx context.Context, channel, ts string) error {
	return c.send(ctx, channel, "chat.delete", func() error {
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
	return c.send(ctx, to.Channel, "chat.postEphemeral", func() error {
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
