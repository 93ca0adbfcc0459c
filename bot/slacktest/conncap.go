package slacktest

import (
	"encoding/json"
	"time"

	"github.com/gorilla/websocket"
)

// maxConnections is how many socket-mode connections Slack keeps open per
// app (Slack's maintainers: "each Slack app ID is allowed a maximum of 10
// concurrent websocket (socket-mode) connections").
const maxConnections = 10

// RefusedConnection is a socket-mode connection Slack refused: it opened
// the WebSocket, sent {"type":"disconnect","reason":Reason} instead of a
// hello, and closed it.
type RefusedConnection struct {
	Reason string // "too_many_websockets" or "link_disabled"
	At     time.Time
}

// RefusedConnections lists the refused connections, in order.
func (s *Server) RefusedConnections() []RefusedConnection {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RefusedConnection(nil), s.sock.refused...)
}

// SetGhostConnections makes Slack count n connections that are not open
// any more (half-open sockets it has not noticed are gone): they count in
// every hello's num_connections and toward the cap of 10, and receive no
// envelopes.
func (s *Server) SetGhostConnections(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sock.ghosts = max(n, 0)
}

// SetSocketModeEnabled switches socket mode off (false) or on, as an admin
// does in the app's settings. Switching it off sends every open connection
// {"type":"disconnect","reason":"link_disabled"} (the server closes those
// the client keeps after Config.DisconnectGrace), and refuses every new
// WebSocket the same way until it is switched on again;
// apps.connections.open still answers ok.
func (s *Server) SetSocketModeEnabled(enabled bool) {
	s.mu.Lock()
	s.sock.disabled = !enabled
	var conns []*conn
	if !enabled {
		conns, s.sock.live = s.sock.live, nil
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.sendDisconnect(conns, "link_disabled")
}

// openCountLocked is the number of connections Slack counts for the app:
// every open WebSocket (also those told to disconnect but not yet closed)
// and the ghosts.
func (s *Server) openCountLocked() int { return len(s.sock.all) + s.sock.ghosts }

// refusalLocked is why a new WebSocket is refused, "" when it is not.
func (s *Server) refusalLocked() string {
	switch {
	case s.sock.disabled:
		return "link_disabled"
	case s.openCountLocked() >= maxConnections:
		return "too_many_websockets"
	}
	return ""
}

// refuse answers a refused WebSocket as Slack does: a disconnect frame
// (with debug_info, no hello), then the socket is closed without a close
// frame once the client has gone or after Config.DisconnectGrace. It runs
// in the link handler; ws is in s.sock.refusing.
func (s *Server) refuse(ws *websocket.Conn, reason string) {
	defer func() {
		s.mu.Lock()
		delete(s.sock.refusing, ws)
		s.notifyLocked()
		s.mu.Unlock()
		_ = ws.Close()
	}()
	msg, _ := json.Marshal(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "fake"},
	})
	_ = ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	if ws.WriteMessage(websocket.TextMessage, msg) != nil {
		return
	}
	_ = ws.SetReadDeadline(time.Now().Add(s.cfg.DisconnectGrace))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
	}
}

// helloLocked is the first frame of an accepted connection: Slack's hello,
// with the connections it now counts for the app.
func (s *Server) helloLocked() []byte {
	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": s.openCountLocked(),
		"connection_info": map[string]any{"app_id": s.cfg.AppID},
		"debug_info": map[string]any{
			"host":                        "fake",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
	})
	return hello
}
