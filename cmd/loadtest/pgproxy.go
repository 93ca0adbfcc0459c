package main

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pgProxy is a TCP proxy in front of PostgreSQL, on 127.0.0.1, that the
// bots connect through: it counts round trips (a client's turn to speak
// after the server spoke, or first), and delays every chunk by delay in
// each direction, as a database in another zone is a round trip of
// 2 × delay away. Chunks keep their order and are not held up by each
// other: each direction is a delay line.
type pgProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	trips  atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
}

// startProxy listens on 127.0.0.1 and forwards each connection to target.
func startProxy(target string, delay time.Duration) (*pgProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &pgProxy{ln: ln, target: target, delay: delay, open: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

func (p *pgProxy) addr() string { return p.ln.Addr().String() }

// roundTrips is how many round trips the clients made so far.
func (p *pgProxy) roundTrips() int64 { return p.trips.Load() }

func (p *pgProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// track adds c to the open connections, or closes it when the proxy is.
func (p *pgProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *pgProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.open, c)
		_ = c.Close()
	}
}

// serve joins client to a new connection to the target until either side
// closes.
func (p *pgProxy) serve(client net.Conn) {
	if !p.track(client) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		p.untrack(client)
		return
	}
	if !p.track(server) {
		p.untrack(client)
		return
	}
	var spoke atomic.Bool // the server spoke last: the client's next chunk is a new round trip
	spoke.Store(true)
	var both sync.WaitGroup
	both.Go(func() {
		p.pipe(server, client, func() {
			if spoke.Swap(false) {
				p.trips.Add(1)
			}
		})
		p.untrack(client, server)
	})
	both.Go(func() {
		p.pipe(client, server, func() { spoke.Store(true) })
		p.untrack(client, server)
	})
	both.Wait()
}

// chunk is what one read got, and when.
type chunk struct {
	data []byte
	at   time.Time
}

// pipe copies from src to dst, each chunk delay after it was read; read
// is called as each chunk arrives.
func (p *pgProxy) pipe(dst, src net.Conn, read func()) {
	if p.delay <= 0 {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				read()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	line := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range line {
			time.Sleep(time.Until(c.at.Add(p.delay)))
			if _, err := dst.Write(c.data); err != nil {
				for range line { // drain: the reader stops on its next read
				}
				return
			}
		}
	}()
	defer func() { close(line); <-done }()
	// One read buffer, and each chunk a copy of what was read: most are a
	// few hundred bytes, and a 32 KiB buffer for each made the load suite's
	// own garbage collector a cost of every run through the proxy.
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			read()
			line <- chunk{data: bytes.Clone(buf[:n]), at: time.Now()}
		}
		if err != nil {
			return
		}
	}
}

// close stops the proxy and cuts its connections.
func (p *pgProxy) close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
