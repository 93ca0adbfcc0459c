package commvault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAPIErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  APIError
		want string
	}{
		{"errorCode in 200", APIError{StatusCode: 200, Code: 2, Message: "Client [x] not found."}, "error 2: Client [x] not found."},
		{"200 without code", APIError{StatusCode: 200, Message: "no job in response"}, "status 200: no job in response"},
		{"500 with code", APIError{StatusCode: 500, Code: 7, Message: "Internal error"}, "status 500, error 7: Internal error"},
		{"no message", APIError{StatusCode: 502}, "status 502: bad gateway"},
		{"retry after", APIError{StatusCode: 429, Code: 429, Message: "slow down", RetryAfter: 2 * time.Second}, "status 429, error 429: slow down (retry after 2s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("APIError%+v.Error() = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestNotFoundErrorString(t *testing.T) {
	tests := []struct {
		name   string
		listed []string
		want   string
	}{
		{"nothing listed", nil, `table group "x" not found in aws-prod-account (it lists none)`},
		{"a few names", []string{"orders", "ordersarchive"}, `table group "x" not found in aws-prod-account (it lists orders, ordersarchive)`},
		{"three names", []string{"orders", "payments", "default"}, `table group "x" not found in aws-prod-account (it lists orders, payments, default)`},
		{"many names are counted", []string{"orders", "payments", "default", "inventory", "sessions"}, `table group "x" not found in aws-prod-account (it lists 5: orders, payments, default, …)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &NotFoundError{Client: "aws-prod-account", Name: "x", Listed: tt.listed}
			if got := e.Error(); got != tt.want {
				t.Errorf("NotFoundError%+v.Error() = %q, want %q", *e, got, tt.want)
			}
		})
	}
}

func TestReduceBody(t *testing.T) {
	long := strings.Repeat("word ", 100)
	tests := []struct {
		name, body, contentType, want string
	}{
		{"html title", "<html><head><title>500 Internal Server Error</title></head><body><h1>x</h1></body></html>", "text/html", "500 Internal Server Error"},
		{"html title entities and space", "<HTML><TITLE>\n  Bad &amp; worse\n</TITLE></HTML>", "", "Bad & worse"},
		{"html no title", "<html><head><style>p{}</style></head><body><h1>Service</h1>\n<p>Unavailable&nbsp;now</p><script>x()</script></body></html>", "text/html", "Service Unavailable now"},
		{"plain text", "Request body is empty\r\n\tor format is invalid.", "text/plain", "Request body is empty or format is invalid."},
		{"control chars", "bad\x00\x07 thing", "", "bad thing"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reduceBody([]byte(tt.body), tt.contentType); got != tt.want {
				t.Errorf("reduceBody(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
	t.Run("capped", func(t *testing.T) {
		got := message(reduceBody([]byte(long), "text/plain"), nil)
		if n := utf8.RuneCountInString(got); n != maxMessage || !strings.HasSuffix(got, "…") {
			t.Errorf("reduceBody(long) has %d runes (%q), want %d ending in …", n, got, maxMessage)
		}
	})
}

func TestErrorFromJSON(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode int
		wantMsg  string
		wantJSON bool
	}{
		{"flat", `{"errorCode":5,"errorMessage":"Access denied"}`, 5, "Access denied", true},
		{"code as string", `{"errorCode":"2","errorMessage":"Client [x] not found."}`, 2, "Client [x] not found.", true},
		{"errList", `{"errList":[{"errorCode":1127,"errLogMessage":"Invalid Username or Password"}]}`, 1127, "Invalid Username or Password", true},
		{"nested error", `{"error":{"errorCode":9,"errLogMessage":"renew failed"}}`, 9, "renew failed", true},
		{"error with errList", `{"error":{"errList":[{"errorCode":3,"errLogMessage":"no job"}]}}`, 3, "no job", true},
		{"errors array", `{"errors":[{"errList":[{"errorCode":4,"errLogMessage":"cannot kill"}]}]}`, 4, "cannot kill", true},
		{"success", `{"taskId":1,"jobIds":["2"],"errorCode":0}`, 0, "", true},
		{"error is a string", `{"error":"boom","message":"it broke"}`, 0, "it broke", true},
		{"not JSON", `<html></html>`, 0, "", false},
		{"array", `[1,2]`, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg, isJSON := errorFromJSON([]byte(tt.body))
			if code != tt.wantCode || msg != tt.wantMsg || isJSON != tt.wantJSON {
				t.Errorf("errorFromJSON(%q) = %d, %q, %v, want %d, %q, %v", tt.body, code, msg, isJSON, tt.wantCode, tt.wantMsg, tt.wantJSON)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"2", 2 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-1", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFlexTypes(t *testing.T) {
	ints := []struct {
		in   string
		want flexInt
	}{{`12`, 12}, {`"12"`, 12}, {`""`, 0}, {`null`, 0}, {`12.0`, 12}, {`"266793"`, 266793}, {`1e3`, 1000}}
	for _, tt := range ints {
		var n flexInt
		if err := json.Unmarshal([]byte(tt.in), &n); err != nil || n != tt.want {
			t.Errorf("flexInt(%s) = %d, %v, want %d", tt.in, n, err, tt.want)
		}
	}
	for _, bad := range []string{`"abc"`, `true`, `{}`} {
		var n flexInt
		if err := json.Unmarshal([]byte(bad), &n); err == nil {
			t.Errorf("flexInt(%s) = %d, want an error", bad, n)
		}
	}
	strs := []struct {
		in   string
		want flexString
	}{{`"149806"`, "149806"}, {`149806`, "149806"}, {`null`, ""}, {`" 7 "`, "7"}}
	for _, tt := range strs {
		var s flexString
		if err := json.Unmarshal([]byte(tt.in), &s); err != nil || s != tt.want {
			t.Errorf("flexString(%s) = %q, %v, want %q", tt.in, s, err, tt.want)
		}
	}
}

func TestSentinelsCombine(t *testing.T) {
	timeoutErr := fmt.Errorf("post: %w", errDeadline{})
	err := outcomeUnknown(timeoutErr)
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrTimeout) {
		t.Errorf("outcomeUnknown(timeout) = %v: want ErrOutcomeUnknown and ErrTimeout", err)
	}
	err = outcomeUnknown(errors.New("connection reset"))
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrTimeout) {
		t.Errorf("outcomeUnknown(reset) = %v: want ErrOutcomeUnknown only", err)
	}
	if err := withTimeout(errors.New("refused")); errors.Is(err, ErrTimeout) {
		t.Errorf("withTimeout(refused) = %v: not a timeout", err)
	}
}

// errDeadline is a net.Error that timed out.
type errDeadline struct{}

func (errDeadline) Error() string   { return "i/o timeout" }
func (errDeadline) Timeout() bool   { return true }
func (errDeadline) Temporary() bool { return true }

func TestMessageRedacts(t *testing.T) {
	secrets := []string{"QSDK tok en-123", "pw-1"}
	tests := []struct {
		name, in string
	}{
		{"plain", "denied for QSDK tok en-123 and pw-1"},
		{"split over lines", "denied for QSDK\n  tok en-123"},
		{"at the cut", strings.Repeat("x", maxMessage-5) + "QSDK tok en-123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := message(tt.in, secrets)
			if leak, ok := containsAny(got, "QSDK tok", "tok en", "pw-1"); ok {
				t.Errorf("message(%q) = %q, still holds %q", tt.in, got, leak)
			}
		})
	}
}
