package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// Slack allows an app at most 10 socket-mode connections. When it is over,
// or socket mode is switched off for the app, it opens the socket and sends
// a disconnect (reason too_many_websockets, link_disabled) at once; slack-go
// reconnects straight away, and would do so in a tight loop. The transport
// reads the disconnect's reason (slack-go hands it to no one: the transport
// reads it from the connection's frames, see slack_sniff.go, or through a
// proxy from slack-go's debug log), waits before the
// next apps.connections.open with a growing backoff, and says why in
// /readyz and one log line per attempt.

// Limits of the connections.
const (
	maxConnections  = 10               // socket-mode connections Slack allows an app
	crowdedAt       = 8                // num_connections at which the bot warns
	refusedBackoff  = time.Second      // the first wait after Slack refused a connection
	maxBackoff      = 5 * time.Minute  // the longest
	connectTimeout  = 30 * time.Second // bound on apps.connections.open
	stableAfter     = time.Minute      // a connection this old resets the backoff
	defaultStagger  = 2 * time.Second  // between the starts of successive connections
	refusalLifetime = 10 * time.Minute // a refusal older than this no longer explains /readyz
)

// refusals are the disconnect reasons that mean Slack will not keep this
// connection, and what they mean.
var refusals = map[string]string{
	"too_many_websockets": "Slack refuses more socket-mode connections for this app (too_many_websockets: it allows 10; " +
		"other replicas, or connections that did not close, hold them)",
	"link_disabled": "socket mode is switched off for this Slack app (link_disabled): turn it on in the app's settings",
}

// conn is the state of one socket-mode connection.
type conn struct {
	i   int
	log *zap.Logger

	mu       sync.Mutex
	up       bool      // a hello arrived and no disconnect since
	helloAt  time.Time // when it came
	refused  int       // refusals in a row
	refusal  string    // the last refusal's meaning, "" if none
	refuseAt time.Time
	notUntil time.Time // no apps.connections.open before this
	slackN   int       // num_connections in the last hello
}

// gate is an http.RoundTripper that holds apps.connections.open back while
// the connection backs off.
type gate struct {
	c    *conn
	base http.RoundTripper
}

func (g gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/apps.connections.open") {
		g.c.mu.Lock()
		wait := time.Until(g.c.notUntil)
		g.c.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-req.Context().Done():
				return nil, req.Context().Err()
			case <-t.C:
			}
		}
	}
	return g.base.RoundTrip(req)
}

// sniffer is slack-go's debug logger: it keeps nothing but the reasons of
// Slack's disconnects.
type sniffer struct{ c *conn }

func (s sniffer) Output(_ int, line string) error {
	_, msg, ok := strings.Cut(line, "Received WebSocket message: ")
	if !ok || !strings.Contains(msg, `"disconnect"`) {
		return nil
	}
	var m struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal([]byte(strings.TrimSpace(msg)), &m) == nil && m.Type == "disconnect" {
		s.c.disconnected(m.Reason)
	}
	return nil
}

// newSocketClient is connection i's socket-mode client: its own Web API
// client for apps.connections.open, with a timeout and the gate, and a
// websocket whose frames tell c of Slack's disconnects (slack_sniff.go);
// through an HTTP proxy, slack-go's debug log does.
func (s *Slack) newSocketClient(c *conn) *socketmode.Client {
	hc := &http.Client{Timeout: connectTimeout, Transport: gate{c: c, base: http.DefaultTransport}}
	api := slack.New("", slack.OptionAppLevelToken(s.cfg.AppToken), slack.OptionAPIURL(s.cfg.APIURL), slack.OptionHTTPClient(hc))
	if d := sniffingDialer(s.cfg.APIURL, c); d != nil {
		return socketmode.New(api, socketmode.OptionPingInterval(s.cfg.PingInterval), socketmode.OptionDialer(d))
	}
	return socketmode.New(api, socketmode.OptionPingInterval(s.cfg.PingInterval), socketmode.OptionDebug(true),
		socketmode.OptionLog(sniffer{c}))
}

// disconnected records that Slack asked connection c to go, and why.
func (c *conn) disconnected(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.up = false
	meaning, refused := refusals[reason]
	if !refused { // warning, refresh_requested: routine
		c.log.Info("slack asked for a reconnect", zap.String("reason", reason))
		return
	}
	if !c.helloAt.IsZero() && now.Sub(c.helloAt) >= stableAfter {
		c.refused = 0
	}
	c.refused++
	backoff := min(refusedBackoff<<min(c.refused-1, 20), maxBackoff)
	c.refusal, c.refuseAt, c.notUntil = meaning, now, now.Add(backoff)
	c.log.Warn("slack refused the socket-mode connection; waiting before the next", zap.String("reason", reason),
		zap.Int("refusals_in_a_row", c.refused), zap.Duration("backoff", backoff))
}

// hello records a hello: the connection is up, and Slack counts n.
func (c *conn) hello(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up, c.helloAt, c.slackN = true, time.Now(), n
	if c.refused > 0 && time.Since(c.refuseAt) >= stableAfter {
		c.refused, c.refusal = 0, ""
	}
}

func (c *conn) down() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = false
}

// state reports whether c is up, and the refusal that explains why not.
func (c *conn) state() (up bool, refusal string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refusal != "" && time.Since(c.refuseAt) > refusalLifetime {
		c.refusal = ""
	}
	return c.up, c.refusal
}

// Ready reports whether at least one connection to Slack is open; when
// none is, the error says why if Slack said (a refusal).
func (s *Slack) Ready() error {
	why := ""
	for _, c := range s.conns {
		up, refusal := c.state()
		if up {
			return nil
		}
		if refusal != "" {
			why = refusal
		}
	}
	if why != "" {
		return fmt.Errorf("no socket-mode connection to Slack is open: %s", why)
	}
	return errorNoConnection
}

// countConnections sets the connections gauge.
func (s *Slack) countConnections() {
	n := 0
	for _, c := range s.conns {
		if up, _ := c.state(); up {
			n++
		}
	}
	s.cfg.Metrics.connections.Set(float64(n))
}

// helloFrom handles a hello on connection c: it counts the connections
// Slack says the app has, and warns when they come near Slack's cap.
func (s *Slack) helloFrom(c *conn, evt socketmode.Event) {
	n := 0
	if evt.Request != nil {
		n = evt.Request.NumConnections
		if l, ok := s.cfg.Handler.(interface{ learnApp(string) }); ok { // the app clicks must be for
			l.learnApp(evt.Request.ConnectionInfo.AppID)
		}
	}
	c.hello(n)
	s.countConnections()
	s.cfg.Metrics.appConnections.Set(float64(n))
	if n >= crowdedAt {
		c.log.Warn("the Slack app has nearly as many socket-mode connections as Slack allows",
			zap.Int("num_connections", n), zap.Int("allowed", maxConnections),
			zap.String("fix", "keep replicas × BACKUPBOT_SLACK_CONNECTIONS, counting a rolling update's surge, at most 10"))
	}
}

// badMessage handles a frame slack-go could not read: it acks the envelope
// the frame names, if it names one (else Slack would retry it), and logs.
func (s *Slack) badMessage(ctx context.Context, log *zap.Logger, sm *socketmode.Client, evt socketmode.Event) {
	bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		return
	}
	var m struct {
		EnvelopeID string `json:"envelope_id"`
	}
	_ = json.Unmarshal(bad.Message, &m)
	log.Warn("slack sent a message that cannot be read; it is acked and dropped", zap.String("envelope", m.EnvelopeID),
		zap.Error(bad.Cause))
	if m.EnvelopeID != "" {
		s.ack(ctx, log, sm, &socketmode.Request{EnvelopeID: m.EnvelopeID}, nil)
	}
}
