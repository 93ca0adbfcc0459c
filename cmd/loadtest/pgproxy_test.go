package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestProxyDelaysAndKeepsBytes sends many small writes through a proxy
// with a delay to an echo server: every byte comes back, in order, no
// sooner than a round trip of the proxy's (its chunks are held while the
// next ones are read, so each must be its own copy).
func TestProxyDelaysAndKeepsBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	const delay = 20 * time.Millisecond
	p, err := startProxy(ln.Addr().String(), delay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	c, err := net.Dial("tcp", p.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	start := time.Now()
	go func() {
		for i := range 2000 {
			msg := fmt.Appendf(nil, "message %d;", i)
			if _, err := c.Write(msg); err != nil {
				return
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < len(expected()) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
	}
	if elapsed := time.Since(start); elapsed < 2*delay {
		t.Errorf("echo came back after %v, sooner than the proxy's round trip of %v", elapsed, 2*delay)
	}
	if !bytes.Equal(got, expected()) {
		t.Fatalf("bytes through the proxy differ from those sent (%d bytes)", len(got))
	}
	if p.roundTrips() < 1 {
		t.Errorf("round trips = %d, want at least 1", p.roundTrips())
	}
}

// expected is what TestProxyDelaysAndKeepsBytes sends.
func expected() []byte {
	var b []byte
	for i := range 2000 {
		b = fmt.Appendf(b, "message %d;", i)
	}
	return b
}
