// Package slacktest is a fake Slack for tests and load runs: a socket-mode
// WebSocket endpoint and the Web API methods backupbot uses, served on
// 127.0.0.1 and speaking Slack's real wire formats, so that an unmodified
// slack-go client works against it:
//
//	srv, err := slacktest.New(slacktest.Config{})
//	defer srv.Close()
//	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(srv.AppToken()),
//		slack.OptionAPIURL(srv.APIURL()))
//	client := socketmode.New(api)
//	go client.RunContext(ctx)
//	srv.WaitConnections(ctx, 1)
//	id, err := srv.SlashCommand(ctx, slacktest.SlashCommand{UserID: "U01ALICE", Text: "help"})
//	ack, err := srv.Ack(ctx, id)
//
// The server records every Web API call, keeps the channels' messages as
// they stand (posts with updates applied), and can inject faults: rate
// limits, method errors, refused connections, disconnects and dropped
// sockets. All methods are safe for concurrent use.
//
// It holds the bot to Slack's rules, always (there is no switch):
//
//   - Block Kit, on chat.postMessage, chat.update, chat.postEphemeral,
//     response_url posts and slash-command ack payloads: at most 50
//     blocks, section text 3,000 characters, 10 fields of 2,000, header
//     plain_text 150, context 10 elements, actions 25, button plain_text
//     75, value 2,000, action_id 255 and unique in the message, block_id
//     unique, confirmation dialogs all plain_text (title 100, text 300,
//     buttons 30). Refused blocks answer invalid_blocks with Slack's
//     details in response_metadata.messages ("[ERROR] must be less than
//     3001 characters [json-pointer:/blocks/0/text/text]"); a response_url
//     answers 400 "invalid_blocks"; a refused ack payload is not shown
//     (Ack.Error). Text: chat.update refuses more than 4,000 characters
//     and chat.postEphemeral more than 40,000 (msg_too_long);
//     chat.postMessage, response_url posts and acks cut text to 40,000
//     and warn (message_truncated). Characters are runes, with &amp;,
//     &lt; and &gt; counted as one.
//   - Conversations (Config.Channels, SetChannel): chat.postMessage
//     answers not_in_channel in a public channel the bot is not in (unless
//     the token has chat:write.public), channel_not_found in a private
//     channel, DM or group DM it is not in, is_archived in an archived
//     one; chat.postEphemeral likewise (chat:write.public does not apply)
//     and user_not_in_channel; chat.update channel_not_found and
//     is_inactive. response_url posts and acks work in any conversation.
//   - At most 10 socket-mode connections per app (SetGhostConnections adds
//     ones Slack still counts); the next is opened and sent a
//     too_many_websockets disconnect instead of a hello. Every hello
//     carries num_connections. SetSocketModeEnabled(false) is socket mode
//     switched off: link_disabled disconnects.
//
// Rejected lists every refused message (method, channel, error, details),
// so an end-to-end test can assert that none was. With Config.RateLimits
// (SlackRateLimits for Slack's published limits) calls over a method's
// token bucket answer 429 with Retry-After, and EarlyCalls lists the calls
// made before a Retry-After had passed.
package slacktest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	AppToken string // app-level token for apps.connections.open; default "xapp-1-test"
	BotToken string // bot token for every other method; default "xoxb-test"

	BotUserID string // default "U0BOT"
	BotID     string // default "B0BOT"
	TeamID    string // default "T0TEAM"
	AppID     string // default "A0APP"
	// EnterpriseID makes the workspace part of an Enterprise Grid
	// organisation: auth.test reports it as enterprise_id, and clicks
	// carry it in enterprise.id. Default "": no organisation.
	EnterpriseID string

	// PingInterval is the gap between WebSocket PING control frames on each
	// socket-mode connection; default 5s. It must be shorter than the
	// client's socketmode.OptionPingInterval (30s by default), or the client
	// declares the connection dead and reconnects.
	PingInterval time.Duration

	// DisconnectGrace is how long a connection that was sent a "disconnect"
	// may stay open before the server closes it; default 10s.
	DisconnectGrace time.Duration

	UserGroups map[string][]string // user group ID (S…) → member IDs, for usergroups.users.list
	Users      map[string]User     // users.info; unknown users get a plausible default

	// Channels declares conversations (see Channel and SetChannel): which
	// exist, of what kind, and whether the bot is in them. A channel not
	// declared is a public channel the bot is a member of.
	Channels map[string]Channel

	// RateLimits, when set, limits methods as Slack does (SlackRateLimits
	// gives Slack's published limits): a call over a method's bucket is
	// answered 429 with Retry-After. nil: only RateLimit's injected 429s.
	RateLimits map[string]RateLimit

	// Scopes are the bot token's OAuth scopes, sent comma-separated in the
	// X-OAuth-Scopes header of every Web API answer to the bot token, as
	// Slack does. nil: commands, chat:write, usergroups:read (what
	// deploy/slack-app-manifest.yaml asks for); an empty, non-nil slice: a
	// token with no scope (the header is sent, empty).
	Scopes []string
}

// User is what users.info answers for one user ID.
type User struct {
	Name        string // handle; default: the lower-cased ID
	RealName    string
	DisplayName string
	Email       string
	TZ          string // default "Europe/Berlin"
	IsBot       bool
	IsAdmin     bool
	Deleted     bool
}

// ErrNoConnection is returned when an envelope must be sent and no
// socket-mode connection is open.
var ErrNoConnection = errors.New("slacktest: no open socket-mode connection")

// ErrClosed is returned by waits that end because the server was closed.
var ErrClosed = errors.New("slacktest: server closed")

// Server is a running fake Slack. Create it with New and stop it with Close.
type Server struct {
	cfg  Config
	base string // http://127.0.0.1:PORT
	http *http.Server
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	mu      sync.Mutex
	clock   func() time.Time // time.Now; tests of rate limits set their own
	closed  bool
	changed chan struct{} // closed and replaced on every state change
	seq     int           // ts, envelope, ticket and URL counter

	sock socketState
	web  webState
}

// socketState is the socket-mode side of the server.
type socketState struct {
	live      []*conn // open and not told to disconnect, in open order
	all       map[*conn]struct{}
	rr        int // round-robin position
	connSeq   int
	tickets   map[string]bool // ticket → used
	opened    int
	openErr   string
	envelopes map[string]*envelope
	sent      []Envelope
	acks      []Ack
	ghosts    int                          // connections Slack still counts, see SetGhostConnections
	disabled  bool                         // socket mode switched off, see SetSocketModeEnabled
	refusing  map[*websocket.Conn]struct{} // sockets being refused
	refused   []RefusedConnection
}

// webState is the Web API side of the server.
type webState struct {
	calls      []Call
	faults     map[string][]fault
	messages   []*Message // post order
	byTS       map[string]*Message
	ephemerals []Ephemeral
	responses  map[string]*responseURL
	posts      []ResponsePost
	users      map[string]User
	groups     map[string][]string
	channels   map[string]Channel
	rejected   []Rejection
	buckets    map[string]*bucket
	retryUntil map[string]time.Time // rate-limit key → end of the last Retry-After

	injected []*InjectedFault // InjectFault's (faults.go), in injection order
}

// New starts a fake Slack on 127.0.0.1 with a random port.
func New(cfg Config) (*Server, error) {
	cfg = withDefaults(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("slacktest: listen: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		clock:   time.Now,
		base:    "http://" + ln.Addr().String(),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		sock: socketState{
			all:       make(map[*conn]struct{}),
			tickets:   make(map[string]bool),
			envelopes: make(map[string]*envelope),
			refusing:  make(map[*websocket.Conn]struct{}),
		},
		web: webState{
			faults:     make(map[string][]fault),
			byTS:       make(map[string]*Message),
			responses:  make(map[string]*responseURL),
			users:      make(map[string]User),
			groups:     make(map[string][]string),
			channels:   make(map[string]Channel),
			buckets:    make(map[string]*bucket),
			retryUntil: make(map[string]time.Time),
		},
	}
	maps.Copy(s.web.users, cfg.Users)
	for id, ch := range cfg.Channels {
		ch.Users = slices.Clone(ch.Users)
		s.web.channels[id] = ch
	}
	for id, members := range cfg.UserGroups {
		s.web.groups[id] = slices.Clone(members)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveLink)
	mux.HandleFunc("/respond/", s.serveRespond)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { _ = s.http.Serve(ln) })
	return s, nil
}

func withDefaults(cfg Config) Config {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&cfg.AppToken, "xapp-1-test")
	def(&cfg.BotToken, "xoxb-test")
	def(&cfg.BotUserID, "U0BOT")
	def(&cfg.BotID, "B0BOT")
	def(&cfg.TeamID, "T0TEAM")
	def(&cfg.AppID, "A0APP")
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"commands", "chat:write", "usergroups:read"}
	}
	cfg.Scopes = slices.Clone(cfg.Scopes)
	cfg.Channels = maps.Clone(cfg.Channels)
	cfg.RateLimits = maps.Clone(cfg.RateLimits)
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 5 * time.Second
	}
	if cfg.DisconnectGrace <= 0 {
		cfg.DisconnectGrace = 10 * time.Second
	}
	return cfg
}

// APIURL is the Web API base for slack.OptionAPIURL, with a trailing slash:
// "http://127.0.0.1:PORT/api/".
func (s *Server) APIURL() string { return s.base + "/api/" }

// AppToken is the app-level token the server accepts.
func (s *Server) AppToken() string { return s.cfg.AppToken }

// BotToken is the bot token the server accepts.
func (s *Server) BotToken() string { return s.cfg.BotToken }

// Config is the configuration in effect, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Close stops the server: it closes the listener, every socket-mode
// connection and every in-flight request, and waits for the server's
// goroutines to end. Waits in progress return ErrClosed. Close is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	conns := slices.Collect(maps.Keys(s.sock.all))
	refusing := slices.Collect(maps.Keys(s.sock.refusing))
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = s.http.Shutdown(ctx) // closes the listener, waits for plain requests
	cancel()
	_ = s.http.Close()
	for _, c := range conns {
		c.close()
	}
	for _, ws := range refusing {
		_ = ws.Close()
	}
	s.wg.Wait()
}

// WaitFor polls cond every 5ms until it returns true, ctx is done, or the
// server is closed.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("slacktest: wait: %w", ctx.Err())
		case <-s.done:
			return ErrClosed
		case <-t.C:
		}
	}
	return nil
}

// wait blocks until cond, evaluated under s.mu after every state change,
// holds. It is how the server's own waits avoid polling.
func (s *Server) wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		case <-ch:
		}
	}
}

// notifyLocked wakes every wait. The caller holds s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextLocked returns the next value of the server-wide counter.
func (s *Server) nextLocked() int {
	s.seq++
	return s.seq
}

// tsLocked returns a unique, increasing Slack timestamp such as
// "1764237600.000100". The caller holds s.mu.
func (s *Server) tsLocked() string {
	us := int64(s.nextLocked()) * 100
	return fmt.Sprintf("%d.%06d", 1764237600+us/1_000_000, us%1_000_000)
}

// SetUser adds or replaces the users.info answer for id.
func (s *Server) SetUser(id string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.web.users[id] = u
}

// SetUserGroup replaces a user group's members; nil members deletes the
// group, so usergroups.users.list answers "no_such_subteam".
func (s *Server) SetUserGroup(id string, members []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if members == nil {
		delete(s.web.groups, id)
		return
	}
	s.web.groups[id] = slices.Clone(members)
}

// userLocked is the users.info answer for id, a plausible default for a
// user that was not configured.
func (s *Server) userLocked(id string) User {
	u, ok := s.web.users[id]
	if id == s.cfg.BotUserID && !ok {
		u = User{Name: "backupbot", RealName: "Backup Bot", IsBot: true}
	}
	if u.Name == "" {
		u.Name = strings.ToLower(id)
	}
	if u.RealName == "" {
		u.RealName = "User " + id
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Name
	}
	if u.Email == "" && !u.IsBot {
		u.Email = u.Name + "@example.com"
	}
	if u.TZ == "" {
		u.TZ = "Europe/Berlin"
	}
	return u
}
