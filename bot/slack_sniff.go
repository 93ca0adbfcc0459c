package bot

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// slack-go hands a disconnect's reason to no one; it logs it at debug
// level. With debug on, though, it also turns every message it receives and
// every ack it sends into JSON and back to redact it for the log: about a
// quarter of the CPU an envelope costs from its arrival to its ack. So the
// transport reads the reason from the frames themselves, as they pass on
// the connection under slack-go's websocket: a frameSniffer watches the
// bytes Slack sends for a short text message that is a disconnect.

// Websocket dialing as slack-go does it by default.
const (
	wsHandshakeTimeout = 45 * time.Second
	wsWriteBufferSize  = 32 << 10
)

// sniffingDialer is the websocket dialer of connection c: its connections
// report Slack's disconnects to c. It returns nil when Slack is reached
// through an HTTP proxy (the environment's HTTPS_PROXY or HTTP_PROXY),
// where the TLS under the websocket is the proxy dialer's: the caller then
// reads the reasons from slack-go's debug log instead.
func sniffingDialer(apiURL string, c *conn) *websocket.Dialer {
	if u, err := url.Parse(apiURL); err == nil {
		if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || p != nil {
			return nil
		}
	}
	sniffed := func(nc net.Conn, err error) (net.Conn, error) {
		if err != nil {
			return nil, err
		}
		return &sniffedConn{Conn: nc, s: frameSniffer{disconnected: c.disconnected}}, nil
	}
	return &websocket.Dialer{
		HandshakeTimeout: wsHandshakeTimeout,
		WriteBufferSize:  wsWriteBufferSize,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) { // ws://
			return sniffed((&net.Dialer{}).DialContext(ctx, network, addr))
		},
		NetDialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) { // wss://: TLS as gorilla's
			return sniffed((&tls.Dialer{}).DialContext(ctx, network, addr))
		},
	}
}

// sniffedConn is a connection whose incoming bytes a frameSniffer watches.
type sniffedConn struct {
	net.Conn
	s frameSniffer
}

func (c *sniffedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.feed(p[:n])
	return n, err
}

// maxSniffed is the longest message a frameSniffer reads: a disconnect is
// a few hundred bytes; envelopes, which are longer, are passed over.
const maxSniffed = 1024

// frameSniffer follows the websocket frames (RFC 6455, section 5.2) of the
// stream it is fed, after the HTTP response that opens it, and calls
// disconnected with the reason of each text
// message that is Slack's disconnect ({"type":"disconnect","reason":…}).
// It keeps at most maxSniffed bytes of a message, and copies only the
// first ones of a longer message.
type frameSniffer struct {
	disconnected func(reason string)

	opened int // how much of the "\r\n\r\n" that ends the HTTP response was read; 4: frames follow

	head    [14]byte // the frame header read so far
	headN   int
	left    uint64 // payload bytes of the current frame not read yet
	inFrame bool   // the header is read: payload follows
	fin     bool   // the current frame ends its message
	control bool   // the current frame is a control frame (close, ping, pong)
	mask    [4]byte
	masked  bool
	maskAt  int
	text    bool   // the current message is text
	msg     []byte // its first bytes
	long    bool   // it is longer than maxSniffed
}

// feed follows b, the next bytes of the stream.
func (f *frameSniffer) feed(b []byte) {
	for f.opened < 4 && len(b) > 0 { // the HTTP response: up to its blank line
		switch {
		case b[0] == "\r\n\r\n"[f.opened]:
			f.opened++
		case b[0] == '\r':
			f.opened = 1
		default:
			f.opened = 0
		}
		b = b[1:]
	}
	for len(b) > 0 {
		if !f.inFrame {
			b = f.header(b)
			continue
		}
		k := uint64(len(b))
		k = min(k, f.left)
		if !f.control && f.text && !f.long {
			f.keep(b[:k])
		}
		f.left -= k
		b = b[k:]
		if f.left == 0 {
			f.endFrame()
		}
	}
}

// header reads header bytes from b, and returns what follows them.
func (f *frameSniffer) header(b []byte) []byte {
	want := 2
	if f.headN >= 2 {
		want = headerLen(f.head[1])
	}
	for len(b) > 0 && f.headN < want {
		f.head[f.headN] = b[0]
		f.headN++
		b = b[1:]
		if f.headN == 2 {
			want = headerLen(f.head[1])
		}
	}
	if f.headN < want {
		return b
	}
	op := f.head[0] & 0x0f
	f.fin, f.control = f.head[0]&0x80 != 0, op >= 8
	n, at := uint64(f.head[1]&0x7f), 2
	switch n {
	case 126:
		n, at = uint64(binary.BigEndian.Uint16(f.head[2:4])), 4
	case 127:
		n, at = binary.BigEndian.Uint64(f.head[2:10]), 10
	}
	f.masked, f.maskAt = f.head[1]&0x80 != 0, 0
	if f.masked {
		copy(f.mask[:], f.head[at:at+4])
	}
	switch op {
	case websocket.TextMessage, websocket.BinaryMessage: // a new message
		f.text, f.msg, f.long = op == websocket.TextMessage, f.msg[:0], false
	}
	f.headN, f.left, f.inFrame = 0, n, true
	if n == 0 {
		f.endFrame()
	}
	return b
}

// headerLen is the length of a frame header whose second byte is b1.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// keep adds payload bytes p to the message, unmasked, as long as it fits.
func (f *frameSniffer) keep(p []byte) {
	if len(f.msg)+len(p) > maxSniffed {
		f.long = true
		return
	}
	start := len(f.msg)
	f.msg = append(f.msg, p...)
	if f.masked {
		for i := start; i < len(f.msg); i++ {
			f.msg[i] ^= f.mask[f.maskAt%4]
			f.maskAt++
		}
	}
}

// endFrame ends the current frame, and its message if it is the last.
func (f *frameSniffer) endFrame() {
	f.inFrame = false
	if f.control || !f.fin {
		return
	}
	if !f.text || f.long || !bytes.Contains(f.msg, []byte(`"disconnect"`)) {
		return
	}
	var m struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(f.msg, &m) == nil && m.Type == "disconnect" {
		f.disconnected(m.Reason)
	}
}
