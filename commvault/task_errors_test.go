package commvault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backupbot/backupbot/commvault/simulator"
)

func TestCreateBackupErrors(t *testing.T) {
	tests := []struct {
		name      string
		fault     simulator.Fault
		want      APIError
		wantTasks int // jobs the simulator created
	}{
		{"errorCode in 200",
			simulator.Fault{Kind: simulator.FaultErrorCode, Code: 2201, Message: "The subclient is not licensed."},
			APIError{StatusCode: 200, Code: 2201, Message: "The subclient is not licensed."}, 0},
		{"no jobIds",
			simulator.Fault{Kind: simulator.FaultNoJobIDs},
			APIError{StatusCode: 200, Message: "no job in response"}, 0},
		{"429",
			simulator.Fault{Kind: simulator.FaultRateLimited, RetryAfter: 2 * time.Second},
			APIError{StatusCode: 429, Code: 429, Message: "Too many requests. API rate limit exceeded, retry after 2 seconds.", RetryAfter: 2 * time.Second}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, simulator.Config{})
			c := e.client(t, nil)
			tt.fault.Op = simulator.OpCreateTask
			e.sim.Inject(tt.fault)
			task, err := c.CreateBackup(context.Background(), prodOrders(), Full)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("CreateBackup = %+v, %v, want *APIError", task, err)
			}
			if *ae != tt.want {
				t.Errorf("CreateBackup error = %+v, want %+v", *ae, tt.want)
			}
			if errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrTimeout) {
				t.Errorf("CreateBackup error %v: a definite answer is not ErrOutcomeUnknown/ErrTimeout", err)
			}
			if !strings.HasPrefix(err.Error(), "create FULL backup of aws-prod-account/orders: ") {
				t.Errorf("error %q does not name the operation", err)
			}
			if n := e.count(simulator.OpCreateTask); n != 1 {
				t.Errorf("CreateTask requests = %d, want 1 (never retried)", n)
			}
		})
	}
}

func TestCreateBackupHangIsOutcomeUnknown(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	e.sim.Inject(simulator.Fault{Op: simulator.OpCreateTask, Kind: simulator.FaultHang})
	_, err := c.CreateBackup(context.Background(), prodOrders(), Full)
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrTimeout) {
		t.Fatalf("CreateBackup on a hang = %v, want ErrOutcomeUnknown and ErrTimeout", err)
	}
	if n := e.count(simulator.OpCreateTask); n != 1 {
		t.Errorf("CreateTask requests = %d, want 1 (never retried)", n)
	}
	if n := e.sim.CreateTaskCount(); n != 1 {
		t.Errorf("tasks created = %d, want 1: the outcome really was a created task", n)
	}
}

// TestCreateBackupTransport covers the shapes the simulator cannot make.
func TestCreateBackupTransport(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantUnknown bool
		wantTimeout bool
		wantStatus  int // *APIError status, 0 = not an *APIError
		wantJobs    string
	}{
		{name: "500", handler: status(500, "application/json", `{"errorCode":7,"errorMessage":"Internal error."}`), wantUnknown: true, wantStatus: 500},
		{name: "500 HTML", handler: status(500, "text/html", "<html><title>500 Internal Server Error</title></html>"), wantUnknown: true, wantStatus: 500},
		{name: "502", handler: status(502, "text/html", "<html><title>502 Bad Gateway</title></html>"), wantUnknown: true, wantStatus: 502},
		{name: "503", handler: status(503, "text/plain", "Service Unavailable"), wantUnknown: true, wantStatus: 503},
		{name: "504", handler: status(504, "", ""), wantUnknown: true, wantStatus: 504},
		{name: "400 plain", handler: status(400, "text/plain", "Request body is empty or format is invalid."), wantStatus: 400},
		{name: "cut after the request", handler: cut, wantUnknown: true},
		{name: "garbage 200", handler: status(200, "application/json", `{"taskId":`), wantUnknown: true},
		{name: "200 HTML", handler: status(200, "text/html", `<html>ok</html>`), wantUnknown: true},
		{name: "errorMessage without jobs", handler: status(200, "application/json", `{"errorCode":0,"errorMessage":"Task is disabled."}`), wantStatus: 200},
		{name: "job IDs as numbers", handler: status(200, "application/json", `{"taskId":"30453","jobIds":[149806, "149807"]}`), wantJobs: "[149806 149807]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			base := stub(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tt.handler(w, r)
			})
			c := stubClient(t, base, 2*time.Second)
			task, err := c.CreateBackup(context.Background(), prodOrders(), Full)
			if tt.wantJobs != "" {
				if err != nil || fmt.Sprint(task.JobIDs) != tt.wantJobs || task.ID != 30453 {
					t.Errorf("CreateBackup = %+v, %v, want jobs %s", task, err, tt.wantJobs)
				}
				return
			}
			if err == nil {
				t.Fatalf("CreateBackup = %+v, want an error", task)
			}
			if got := errors.Is(err, ErrOutcomeUnknown); got != tt.wantUnknown {
				t.Errorf("CreateBackup = %v: ErrOutcomeUnknown %v, want %v", err, got, tt.wantUnknown)
			}
			if got := errors.Is(err, ErrTimeout); got != tt.wantTimeout {
				t.Errorf("CreateBackup = %v: ErrTimeout %v, want %v", err, got, tt.wantTimeout)
			}
			var ae *APIError
			if got := errors.As(err, &ae); got != (tt.wantStatus != 0) || (got && ae.StatusCode != tt.wantStatus) {
				t.Errorf("CreateBackup = %v, want *APIError status %d", err, tt.wantStatus)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("CreateTask requests = %d, want 1 (never retried)", n)
			}
		})
	}
}

func status(code int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// cut reads the whole request, then drops the connection without answering.
func cut(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

func TestCreateBackupRefusedIsDefinite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := stubClient(t, "http://"+addr+"/commandcenter/api", 2*time.Second)
	_, err = c.CreateBackup(context.Background(), prodOrders(), Full)
	if err == nil {
		t.Fatal("CreateBackup to a closed port succeeded")
	}
	if errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrTimeout) {
		t.Errorf("CreateBackup to a closed port = %v: nothing was sent, want a definite failure", err)
	}
}

func TestCreateBackupCancelledBeforeSending(t *testing.T) {
	e := newEnv(t, simulator.Config{})
	c := e.client(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.CreateBackup(ctx, prodOrders(), Full)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("CreateBackup with a cancelled context = %v, want context.Canceled, not ErrOutcomeUnknown", err)
	}
	if n := e.count(simulator.OpCreateTask); n != 0 {
		t.Errorf("CreateTask requests = %d, want 0", n)
	}
}
