package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawClient is a bare WebSocket client, for checks below slack-go.
type rawClient struct {
	ws    *websocket.Conn
	hello []byte
	pings atomic.Int32
}

// openURL calls apps.connections.open and returns the WebSocket URL.
func openURL(t *testing.T, srv *Server) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.APIURL()+"apps.connections.open", nil)
	req.Header.Set("Authorization", "Bearer "+srv.AppToken())
	client := &http.Client{Timeout: waitTimeout}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || !out.OK {
		t.Fatalf("apps.connections.open: %+v, %v", out, err)
	}
	return out.URL
}

func dialRaw(t *testing.T, srv *Server) *rawClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(openURL(t, srv), http.Header{"Origin": {"https://api.slack.com"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &rawClient{ws: ws}
	ws.SetPingHandler(func(string) error {
		c.pings.Add(1)
		return nil
	})
	_ = ws.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, c.hello, err = ws.ReadMessage(); err != nil {
		t.Fatalf("read hello: %v", err)
	}
	return c
}

// next reads the next text frame (pings are handled while reading).
func (c *rawClient) next(t *testing.T) map[string]any {
	t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return m
}

func TestWireHelloPingsAndAcks(t *testing.T) {
	srv := newServer(t, Config{PingInterval: 20 * time.Millisecond})
	c := dialRaw(t, srv)
	ctx := testContext(t)

	want := `{"connection_info":{"app_id":"A0APP"},"debug_info":{"approximate_connection_time":18060,"build_number":1,"host":"fake"},"num_connections":1,"type":"hello"}`
	if string(c.hello) != want {
		t.Errorf("hello = %s\nwant    %s", c.hello, want)
	}

	id, err := srv.SlashCommand(ctx, SlashCommand{Text: "status 42"})
	if err != nil {
		t.Fatal(err)
	}
	env := c.next(t)
	if env["envelope_id"] != id || env["type"] != "slash_commands" || env["accepts_response_payload"] != true {
		t.Errorf("envelope = %v", env)
	}
	if _, has := env["retry_attempt"]; has {
		t.Errorf("first delivery carries retry_attempt: %v", env)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"`+id+`"}`)); err != nil {
		t.Fatal(err)
	}
	ack, err := srv.Ack(ctx, id)
	if err != nil || ack.Payload != nil {
		t.Errorf("Ack = %+v, %v; want one without payload", ack, err)
	}

	// Pings keep coming while the client reads.
	go func() {
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := srv.WaitFor(ctx, func() bool { return c.pings.Load() >= 3 }); err != nil {
		t.Errorf("pings = %d: %v", c.pings.Load(), err)
	}

	// A clean close from the client.
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	if err := srv.WaitFor(ctx, func() bool { return srv.Connections() == 0 }); err != nil {
		t.Errorf("connection still counted after close: %v", err)
	}
}

func TestTicketIsSingleUse(t *testing.T) {
	srv := newServer(t, Config{})
	url := openURL(t, srv)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("first dial: %v", err)
	}
	defer ws.Close()
	if _, _, err := websocket.DefaultDialer.Dial(url, nil); !errors.Is(err, websocket.ErrBadHandshake) {
		t.Errorf("second dial with the same ticket: err = %v, want a bad handshake", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial(strings.Replace(url, "ticket=", "ticket=9", 1), nil); err == nil {
		t.Error("dial with an unknown ticket succeeded")
	}
}

func TestDisconnectFrame(t *testing.T) {
	srv := newServer(t, Config{DisconnectGrace: 50 * time.Millisecond})
	c := dialRaw(t, srv)
	ctx := testContext(t)

	srv.Disconnect("link_disabled")
	if got := c.next(t); got["type"] != "disconnect" || got["reason"] != "link_disabled" {
		t.Errorf("frame = %v, want a link_disabled disconnect", got)
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("Connections() after Disconnect = %d, want 0", n)
	}
	if _, err := srv.SlashCommand(ctx, SlashCommand{}); !errors.Is(err, ErrNoConnection) {
		t.Errorf("envelope to a disconnecting connection: err = %v", err)
	}
	// A client that ignores the disconnect is closed after the grace period.
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, _, err := c.ws.ReadMessage(); err == nil {
		t.Error("connection still open after the grace period")
	}
}

func TestResponseURLRejectsBadPosts(t *testing.T) {
	srv := newServer(t, Config{})
	c := dialRaw(t, srv)
	ctx := testContext(t)
	if _, err := srv.SlashCommand(ctx, SlashCommand{}); err != nil {
		t.Fatal(err)
	}
	url := c.next(t)["payload"].(map[string]any)["response_url"].(string)
	client := &http.Client{Timeout: waitTimeout}
	t.Cleanup(client.CloseIdleConnections)
	for _, tt := range []struct {
		name, url, body string
		want            int
	}{
		{"unknown url", url + "0", `{"text":"x"}`, http.StatusNotFound},
		{"not JSON", url, `text=x`, http.StatusBadRequest},
		{"no text", url, `{"response_type":"ephemeral"}`, http.StatusBadRequest},
		{"fine", url, `{"text":"ok"}`, http.StatusOK},
	} {
		resp, err := client.Post(tt.url, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}

func TestCloseEndsEverything(t *testing.T) {
	srv, err := New(Config{PingInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, srv)
	ctx := testContext(t)
	waitErr := make(chan error, 1)
	go func() { _, err := srv.Ack(ctx, "never"); waitErr <- err }()

	srv.Close()
	srv.Close() // idempotent
	if err := <-waitErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Ack during Close: err = %v, want ErrClosed", err)
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(waitTimeout))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			break
		}
	}
	if _, err := http.Post(srv.APIURL()+"auth.test", "text/plain", nil); err == nil {
		t.Error("Web API still answers after Close")
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, leak := range []string{"slacktest.(*Server)", "slacktest.(*conn)"} {
		if strings.Contains(stacks, leak) {
			t.Errorf("goroutine left in %s after Close:\n%s", leak, stacks)
		}
	}
	if err := srv.WaitFor(context.Background(), func() bool { return false }); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitFor after Close = %v, want ErrClosed", err)
	}
}
