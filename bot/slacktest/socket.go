package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	writeTimeout = 5 * time.Second
	readLimit    = 1 << 20
)

var errConnClosed = errors.New("slacktest: socket-mode connection closed")

// conn is one socket-mode WebSocket. Its reader runs in the HTTP handler's
// goroutine; a single writer goroutine owns every data write (gorilla
// writes are not concurrency-safe) and the PING ticker.
type conn struct {
	s    *Server
	id   int
	ws   *websocket.Conn
	out  chan frame
	done chan struct{}
	once sync.Once
}

// frame is one text message for the writer.
type frame struct {
	data       []byte
	sent       chan sendResult    // buffered; nil when nobody waits
	beforeSend func(at time.Time) // called just before the write, so an ack can never precede it
	closeAfter time.Duration      // > 0: close the connection this long after writing
}

type sendResult struct {
	at  time.Time
	err error
}

// Connections is the number of socket-mode connections open now that have
// not been told to disconnect.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sock.live)
}

// WaitConnections waits until at least n connections are open (as counted
// by Connections).
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	err := s.wait(ctx, func() bool { return len(s.sock.live) >= n })
	if err != nil {
		return fmt.Errorf("slacktest: wait for %d connections: %w", n, err)
	}
	return nil
}

// ConnectionsOpened is the number of apps.connections.open calls that
// succeeded.
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sock.opened
}

// SetConnectionsOpenError makes apps.connections.open answer
// {"ok":false,"error":code} until it is called again with "". slack-go
// gives up (RunContext returns) on "invalid_auth", "not_authed",
// "account_inactive" and "token_revoked", and retries anything else with
// backoff.
func (s *Server) SetConnectionsOpenError(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sock.openErr = code
}

// Disconnect sends {"type":"disconnect","reason":reason,...} on every open
// connection, as Slack does before a refresh ("refresh_requested",
// "warning"). The connections stop counting as open and receive no more
// envelopes at once; the server closes any the client has not closed after
// Config.DisconnectGrace. It sends only the frame: for what follows the
// reasons "too_many_websockets" and "link_disabled" in Slack (the next
// connections refused too), use SetGhostConnections and
// SetSocketModeEnabled.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	conns := s.sock.live
	s.sock.live = nil // no more envelopes for them
	s.notifyLocked()
	s.mu.Unlock()
	s.sendDisconnect(conns, reason)
}

// DisconnectOne is Disconnect for the oldest open connection only, as Slack
// refreshes each connection on its own schedule. It reports whether there
// was one.
func (s *Server) DisconnectOne(reason string) bool {
	s.mu.Lock()
	if len(s.sock.live) == 0 {
		s.mu.Unlock()
		return false
	}
	c := s.sock.live[0]
	s.sock.live = append(s.sock.live[:0:0], s.sock.live[1:]...)
	s.notifyLocked()
	s.mu.Unlock()
	s.sendDisconnect([]*conn{c}, reason)
	return true
}

func (s *Server) sendDisconnect(conns []*conn, reason string) {
	msg, _ := json.Marshal(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "fake"},
	})
	for _, c := range conns {
		f := frame{data: msg, sent: make(chan sendResult, 1), closeAfter: s.cfg.DisconnectGrace}
		_, _ = c.send(context.Background(), f)
	}
}

// DropConnections closes every socket-mode connection abruptly, without a
// close frame, as a network failure would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.sock.all))
	for c := range s.sock.all {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// appsConnectionsOpen answers apps.connections.open (its app-level token
// checked): a single-use ticket in a ws:// URL. The caller holds s.mu.
func (s *Server) appsConnectionsOpen(*apiRequest) apiResult {
	if s.sock.openErr != "" {
		return fail(s.sock.openErr)
	}
	ticket := strconv.Itoa(s.nextLocked())
	s.sock.tickets[ticket] = false
	s.sock.opened++
	url := "ws" + s.base[len("http"):] + "/link/?ticket=" + ticket + "&app_id=" + s.cfg.AppID
	return ok(map[string]any{"url": url})
}

// serveLink is the socket-mode WebSocket endpoint.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	used, known := s.sock.tickets[ticket]
	if s.closed || !known || used {
		s.mu.Unlock()
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	s.sock.tickets[ticket] = true
	s.wg.Add(1) // this handler, which becomes the reader
	s.mu.Unlock()
	defer s.wg.Done()

	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	ws.SetReadLimit(readLimit)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	if reason := s.refusalLocked(); reason != "" {
		s.sock.refusing[ws] = struct{}{}
		s.sock.refused = append(s.sock.refused, RefusedConnection{Reason: reason, At: time.Now()})
		s.notifyLocked()
		s.mu.Unlock()
		s.refuse(ws, reason)
		return
	}
	s.sock.connSeq++
	c := &conn{s: s, id: s.sock.connSeq, ws: ws, out: make(chan frame, 64), done: make(chan struct{})}
	s.sock.live = append(s.sock.live, c)
	s.sock.all[c] = struct{}{}
	c.out <- frame{data: s.helloLocked()} // the first frame on every connection
	s.wg.Add(1)
	s.notifyLocked()
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		c.writeLoop()
	}()
	c.readLoop()
}

func (c *conn) readLoop() {
	defer c.close()
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return // client closed, dropped, or we closed
		}
		if typ == websocket.TextMessage {
			c.s.recordAck(c.id, data)
		}
	}
}

func (c *conn) writeLoop() {
	defer c.close()
	ping := time.NewTicker(c.s.cfg.PingInterval)
	defer ping.Stop()
	var grace <-chan time.Time
	for {
		select {
		case <-c.done:
			return
		case <-grace:
			return
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("fake"), time.Now().Add(writeTimeout)); err != nil {
				return
			}
		case f := <-c.out:
			at := time.Now()
			if f.beforeSend != nil {
				f.beforeSend(at)
			}
			err := c.ws.SetWriteDeadline(at.Add(writeTimeout))
			if err == nil {
				err = c.ws.WriteMessage(websocket.TextMessage, f.data)
			}
			if f.sent != nil {
				f.sent <- sendResult{at: at, err: err}
			}
			if err != nil {
				return
			}
			if f.closeAfter > 0 && grace == nil {
				t := time.NewTimer(f.closeAfter)
				defer t.Stop()
				grace = t.C
			}
		}
	}
}

// send queues f and waits until it is written; f.sent must be non-nil.
func (c *conn) send(ctx context.Context, f frame) (time.Time, error) {
	select {
	case c.out <- f:
	case <-c.done:
		return time.Time{}, errConnClosed
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	select {
	case r := <-f.sent:
		return r.at, r.err
	case <-c.done:
		select {
		case r := <-f.sent:
			return r.at, r.err
		default:
			return time.Time{}, errConnClosed
		}
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}

// close tears the connection down without a close frame. Idempotent.
func (c *conn) close() {
	c.once.Do(func() {
		s := c.s
		s.mu.Lock()
		s.sock.live = slices.DeleteFunc(s.sock.live, func(x *conn) bool { return x == c })
		delete(s.sock.all, c)
		s.notifyLocked()
		s.mu.Unlock()
		close(c.done)
		_ = c.ws.Close()
	})
}

// pickLocked chooses the next open connection, round-robin.
func (s *Server) pickLocked() (*conn, error) {
	if len(s.sock.live) == 0 {
		return nil, ErrNoConnection
	}
	c := s.sock.live[s.sock.rr%len(s.sock.live)]
	s.sock.rr++
	return c, nil
}
