package slacktest

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/socketmode"
)

// dialRefused dials a connection the server should refuse and returns the
// one frame it sends before closing the socket.
func dialRefused(t *testing.T, srv *Server) map[string]any {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(openURL(t, srv), http.Header{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Error("the refused socket sent a second frame")
	}
	return m
}

func helloCount(t *testing.T, c *rawClient) float64 {
	t.Helper()
	var h map[string]any
	if err := json.Unmarshal(c.hello, &h); err != nil || h["type"] != "hello" {
		t.Fatalf("first frame %s, want a hello", c.hello)
	}
	return h["num_connections"].(float64)
}

func TestConnectionCap(t *testing.T) {
	srv := newServer(t, Config{DisconnectGrace: 100 * time.Millisecond})
	var clients []*rawClient
	for i := range maxConnections {
		c := dialRaw(t, srv)
		if n := helloCount(t, c); n != float64(i+1) {
			t.Errorf("hello %d: num_connections %v, want %d", i+1, n, i+1)
		}
		clients = append(clients, c)
	}
	got := dialRefused(t, srv)
	if got["type"] != "disconnect" || got["reason"] != "too_many_websockets" || got["debug_info"] == nil {
		t.Errorf("11th connection got %v, want a too_many_websockets disconnect", got)
	}
	if n := srv.Connections(); n != maxConnections {
		t.Errorf("Connections() = %d, want %d: the refused one does not count", n, maxConnections)
	}
	if r := srv.RefusedConnections(); len(r) != 1 || r[0].Reason != "too_many_websockets" {
		t.Errorf("RefusedConnections() = %+v", r)
	}

	// One closes: there is room again.
	_ = clients[0].ws.Close()
	ctx := testContext(t)
	if err := srv.WaitFor(ctx, func() bool { return srv.Connections() == maxConnections-1 }); err != nil {
		t.Fatal(err)
	}
	if n := helloCount(t, dialRaw(t, srv)); n != maxConnections {
		t.Errorf("num_connections = %v, want %d", n, maxConnections)
	}
}

// Connections Slack still counts (ghosts) take room under the cap; slack-go,
// refused, reconnects at once, again and again.
func TestGhostConnectionsCountTowardTheCap(t *testing.T) {
	srv := newServer(t, Config{})
	srv.SetGhostConnections(8)
	if n := helloCount(t, dialRaw(t, srv)); n != 9 {
		t.Errorf("num_connections = %v, want 9 (8 ghosts and this one)", n)
	}
	b := connectedBot(t, srv)
	if n := b.ofType(socketmode.EventTypeHello)[0].Request.NumConnections; n != 10 {
		t.Errorf("slack-go hello num_connections = %d, want 10", n)
	}
	srv.SetGhostConnections(10) // the cap is full: the bot's next connection is refused
	srv.DropConnections()
	ctx := testContext(t)
	if err := srv.WaitFor(ctx, func() bool { return len(srv.RefusedConnections()) >= 3 }); err != nil {
		t.Fatalf("refusals %+v: %v", srv.RefusedConnections(), err)
	}
	if n := len(b.ofType(socketmode.EventTypeHello)); n != 1 {
		t.Errorf("hellos = %d, want none after the first", n)
	}
	srv.SetGhostConnections(0)
	b.waitEvents(t, srv, socketmode.EventTypeHello, 2)
}

func TestSocketModeDisabled(t *testing.T) {
	srv := newServer(t, Config{DisconnectGrace: 50 * time.Millisecond})
	c := dialRaw(t, srv)
	ctx := testContext(t)

	srv.SetSocketModeEnabled(false)
	if got := c.next(t); got["type"] != "disconnect" || got["reason"] != "link_disabled" {
		t.Errorf("open connection got %v, want a link_disabled disconnect", got)
	}
	if got := dialRefused(t, srv); got["reason"] != "link_disabled" {
		t.Errorf("new connection got %v, want a link_disabled disconnect", got)
	}
	// The told connection counts until it is closed (the server closes it
	// after the grace period).
	if err := srv.WaitFor(ctx, func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.openCountLocked() == 0
	}); err != nil {
		t.Fatal(err)
	}
	srv.SetSocketModeEnabled(true)
	if n := helloCount(t, dialRaw(t, srv)); n != 1 {
		t.Errorf("after re-enabling: num_connections %v, want 1", n)
	}
	if r := srv.RefusedConnections(); len(r) != 1 || r[0].Reason != "link_disabled" {
		t.Errorf("RefusedConnections() = %+v", r)
	}
}
