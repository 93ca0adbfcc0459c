package commvault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrOutcomeUnknown marks a CreateBackup whose request may have reached
	// Commvault: it timed out or the connection was cut after the request was
	// written, or a gateway answered 502/503/504. The task may or may not exist;
	// the call is never retried, the caller reconciles (looks for the job).
	ErrOutcomeUnknown = errors.New("outcome unknown, the request may have reached commvault")

	// ErrTimeout marks any call that ran out of time (the per-request timeout
	// or the caller's deadline). For CreateBackup it comes together with
	// ErrOutcomeUnknown when the request had been written.
	ErrTimeout = errors.New("timed out")

	// ErrJobNotFound means Commvault has no record of the job (yet: right
	// after CreateTask a job can be missing for a moment).
	ErrJobNotFound = errors.New("job not found")
)

// maxMessage caps APIError.Message, in runes.
const maxMessage = 200

// APIError is an answer from Commvault that is not a success: a non-2xx
// status, or a 200 carrying a nonzero errorCode (or no job for CreateTask).
type APIError struct {
	StatusCode int    // HTTP status (200 when Commvault said errorCode in a 200)
	Code       int    // Commvault errorCode, 0 if none
	Message    string // one short line; HTML/plain bodies reduced; never a secret
	// RetryAfter is how long Commvault asks the client to wait (429, 503):
	// Retry-After, or else X-RateLimit-Period (Commvault SaaS sends its
	// budget, X-RateLimit-Limit calls per X-RateLimit-Period seconds, and
	// asks a client over it to wait the period); 0 when it says neither.
	RetryAfter time.Duration
}

// Error reads like "status 500, error 7: Internal error" or, for a 200 with
// an errorCode, "error 2: Client [x] not found.".
func (e *APIError) Error() string {
	var b strings.Builder
	if e.StatusCode != http.StatusOK || e.Code == 0 {
		fmt.Fprintf(&b, "status %d", e.StatusCode)
		if e.Code != 0 {
			b.WriteString(", ")
		}
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, "error %d", e.Code)
	}
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(e.StatusCode))
	}
	if msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// NotFoundError says a table group does not exist in a client (cloud
// account). Listed holds the names the client's listing had, in its order;
// which of them to offer is the caller's choice.
type NotFoundError struct {
	Client string
	Name   string
	Listed []string
}

// maxNamed is how many listed names NotFoundError.Error shows.
const maxNamed = 3

// Error reads like `table group "x" not found in aws-prod-account (it lists
// orders, payments)`, or for a long listing `… (it lists 12: orders,
// ordersarchive, payments, …)`.
func (e *NotFoundError) Error() string {
	s := fmt.Sprintf("table group %q not found in %s", e.Name, e.Client)
	switch n := len(e.Listed); {
	case n == 0:
		return s + " (it lists none)"
	case n <= maxNamed:
		return s + " (it lists " + strings.Join(e.Listed, ", ") + ")"
	default:
		return fmt.Sprintf("%s (it lists %d: %s, …)", s, n, strings.Join(e.Listed[:maxNamed], ", "))
	}
}

// AmbiguousError says a table group name is in several DynamoDB instances
// of a client (cloud account): Instances names them, in listing order, and
// "INSTANCE/NAME" picks one.
type AmbiguousError struct {
	Client    string
	Name      string
	Instances []string
}

// Error reads like `table group "default" is in 2 DynamoDB instances of
// aws-prod-account: DynamoDB, DynamoDB-eu (name one as INSTANCE/default)`.
func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("table group %q is in %d DynamoDB instances of %s: %s (name one as INSTANCE/%s)",
		e.Name, len(e.Instances), e.Client, strings.Join(e.Instances, ", "), e.Name)
}

// isUnauthorized reports whether err is an HTTP 401 from Commvault.
func isUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized
}

// isTimeout reports whether err means time ran out.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// withTimeout adds ErrTimeout to err when it means time ran out.
func withTimeout(err error) error {
	if err == nil || errors.Is(err, ErrTimeout) || !isTimeout(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTimeout, err)
}

// outcomeUnknown marks err as ErrOutcomeUnknown (and ErrTimeout if it is one).
func outcomeUnknown(err error) error {
	if isTimeout(err) && !errors.Is(err, ErrTimeout) {
		return fmt.Errorf("%w, %w: %w", ErrTimeout, ErrOutcomeUnknown, err)
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
}

// apiError builds the APIError for a non-success answer. The body is reduced
// to one short line, with every secret in secrets removed.
func apiError(resp *http.Response, body []byte, now time.Time, secrets []string) *APIError {
	e := &APIError{StatusCode: resp.StatusCode}
	code, msg, isJSON := errorFromJSON(body)
	if isJSON {
		e.Code = code
	} else {
		msg = reduceBody(body, resp.Header.Get("Content-Type"))
	}
	e.Message = message(msg, secrets)
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		e.RetryAfter = parseRetryAfter(ra, now)
	}
	if e.RetryAfter == 0 && resp.StatusCode == http.StatusTooManyRequests {
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("X-RateLimit-Period"))); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// errorFromJSON extracts Commvault's error code and message from the error
// shapes it uses: {errorCode, errorMessage}, {errList:[…]}, {error:{…}},
// {errors:[{errList:[…]}]}. isJSON is false when body is not a JSON object.
func errorFromJSON(body []byte) (code int, msg string, isJSON bool) {
	type errItem struct {
		ErrorCode     flexInt `json:"errorCode"`
		ErrLogMessage string  `json:"errLogMessage"`
		ErrorMessage  string  `json:"errorMessage"`
	}
	var v struct {
		errItem
		Message string          `json:"message"`
		ErrList []errItem       `json:"errList"`
		Error   json.RawMessage `json:"error"`
		Errors  []struct {
			ErrList []errItem `json:"errList"`
		} `json:"errors"`
	}
	trimmed := bytes.TrimSpace(body) // no copy: a listing's body is megabytes
	if !bytes.HasPrefix(trimmed, []byte("{")) || json.Unmarshal(trimmed, &v) != nil {
		return 0, "", false
	}
	items := []errItem{v.errItem}
	items = append(items, v.ErrList...)
	var nested struct {
		errItem
		ErrList []errItem `json:"errList"`
	}
	if len(v.Error) > 0 && json.Unmarshal(v.Error, &nested) == nil {
		items = append(items, nested.errItem)
		items = append(items, nested.ErrList...)
	}
	for _, e := range v.Errors {
		items = append(items, e.ErrList...)
	}
	for _, it := range items {
		if code == 0 {
			code = int(it.ErrorCode)
		}
		if msg == "" {
			msg = firstNonEmpty(it.ErrorMessage, it.ErrLogMessage)
		}
	}
	if msg == "" {
		msg = v.Message
	}
	return code, msg, true
}

var (
	titleRE  = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	hiddenRE = regexp.MustCompile(`(?is)<(script|style|head)[^>]*>.*?</(script|style|head)>`)
	tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
)

// reduceBody turns an HTML or plain-text error body into one line: an HTML
// page's <title>, else its text without tags. message caps it.
func reduceBody(body []byte, contentType string) string {
	s := strings.ToValidUTF8(string(body), "")
	lower := strings.ToLower(s)
	isHTML := strings.Contains(strings.ToLower(contentType), "html") ||
		strings.Contains(lower, "<html") || strings.Contains(lower, "<!doctype") ||
		strings.Contains(lower, "<title") || strings.Contains(lower, "<body")
	if !isHTML {
		return oneLine(s)
	}
	if m := titleRE.FindStringSubmatch(s); m != nil {
		if t := oneLine(html.UnescapeString(tagRE.ReplaceAllString(m[1], " "))); t != "" {
			return t
		}
	}
	s = hiddenRE.ReplaceAllString(s, " ")
	s = tagRE.ReplaceAllString(s, " ")
	return oneLine(html.UnescapeString(s))
}

// message makes server text fit for an error: one line, no secret, at most
// maxMessage runes. Secrets are removed before and after folding whitespace
// (a body could split one over lines) and before capping (which could
// otherwise leave a prefix of one).
func message(s string, secrets []string) string {
	return capRunes(redact(oneLine(redact(s, secrets)), secrets), maxMessage)
}

// oneLine folds whitespace and drops control characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// capRunes cuts s to at most n runes, marking a cut with "…".
func capRunes(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// redact replaces every non-empty secret in s.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
