package bot

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

// frame is a websocket frame as a server sends it (masked when mask is
// not nil).
func frame(op byte, fin bool, payload []byte, mask []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var h []byte
	switch n := len(payload); {
	case n < 126:
		h = []byte{b0, byte(n)}
	case n < 1<<16:
		h = []byte{b0, 126, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = make([]byte, 10)
		h[0], h[1] = b0, 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	p := slices.Clone(payload)
	if mask != nil {
		h[1] |= 0x80
		h = append(h, mask...)
		for i := range p {
			p[i] ^= mask[i%4]
		}
	}
	return append(h, p...)
}

// The sniffer finds Slack's disconnects in the stream after the HTTP
// response that opens it, however the reads split it, and only them: not in an envelope that quotes one, not in a
// long message, not in control frames, across fragments and pings.
func TestFrameSnifferFindsDisconnects(t *testing.T) {
	disconnect := []byte(`{"type":"disconnect","reason":"too_many_websockets","debug_info":{"host":"applink-1"}}`)
	envelope := []byte(`{"envelope_id":"e1","type":"slash_commands","payload":{"text":"{\"type\":\"disconnect\",\"reason\":\"x\"}"}}`)
	long := []byte(`{"type":"disconnect","reason":"link_disabled","pad":"` + strings.Repeat("x", 2*maxSniffed) + `"}`)
	stream := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	stream = append(stream, frame(1, true, []byte(`{"type":"hello","num_connections":1}`), nil)...)
	stream = append(stream, frame(1, true, envelope, nil)...)
	stream = append(stream, frame(9, true, []byte("ping"), nil)...)
	stream = append(stream, frame(1, true, long, nil)...)
	stream = append(stream, frame(1, false, disconnect[:10], nil)...) // fragmented, a pong between
	stream = append(stream, frame(10, true, []byte(`"disconnect"`), nil)...)
	stream = append(stream, frame(0, true, disconnect[10:], nil)...)
	stream = append(stream, frame(2, true, disconnect, nil)...) // binary: not Slack's
	stream = append(stream, frame(1, true, bytes.ReplaceAll(disconnect, []byte("too_many_websockets"), []byte("warning")), []byte{1, 2, 3, 4})...)
	for _, size := range []int{1, 2, 3, 7, 64, 1000, len(stream)} {
		var got []string
		f := frameSniffer{disconnected: func(r string) { got = append(got, r) }}
		for b := stream; len(b) > 0; {
			n := min(size, len(b))
			f.feed(b[:n])
			b = b[n:]
		}
		if want := []string{"too_many_websockets", "warning"}; !slices.Equal(got, want) {
			t.Errorf("reads of %d bytes: disconnects %q, want %q", size, got, want)
		}
	}
}
