package slacktest

import (
	"encoding/json"
	"time"
)

// Rejection is a message Slack refused, or posted only cut short: a
// chat.postMessage, chat.update, chat.postEphemeral or chat.delete call
// that failed, a response_url post that failed, or a slash command's ack
// payload Slack would not show. Calls failed by FailMethod or RateLimit
// are not rejections: the test asked for them.
type Rejection struct {
	Method  string // the Web API method, "response_url" or "ack"
	Channel string
	Error   string // Slack's error, e.g. "invalid_blocks", "not_in_channel", "used_url"
	// Messages are Slack's details (response_metadata.messages), e.g.
	// "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]".
	Messages []string
	// Warning is set when Slack posted the message anyway, cut to its limit
	// (Error is then the warning, "message_truncated").
	Warning bool
	Body    json.RawMessage // the ack payload or response_url body; nil for Web API calls
	At      time.Time
}

// Rejected lists every rejection so far, in order. An end-to-end test that
// expects every message to reach the user asserts it is empty.
func (s *Server) Rejected() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rejection, len(s.web.rejected))
	for i, r := range s.web.rejected {
		r.Messages = append([]string(nil), r.Messages...)
		r.Body = append(json.RawMessage(nil), r.Body...)
		out[i] = r
	}
	return out
}

// rejectLocked records a rejection. The caller holds s.mu.
func (s *Server) rejectLocked(r Rejection) {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	s.web.rejected = append(s.web.rejected, r)
}

// rejectedMethods are the methods whose failures are rejected messages.
var rejectedMethods = map[string]bool{
	"chat.postMessage": true, "chat.update": true, "chat.postEphemeral": true, "chat.delete": true,
}

// blocksFail is Slack's answer to refused blocks: the error, with the
// details in "errors" and in response_metadata.messages.
func blocksFail(p *blockProblem) apiResult {
	res := fail(p.code)
	res.body["errors"] = p.errors
	res.body["response_metadata"] = map[string]any{"messages": p.messages()}
	return res
}

// truncatedWarning is what Slack adds to an answer when it cut a message's
// text to 40,000 characters (changelog 2018-04, "Truncating really long
// messages").
func truncatedWarning(body map[string]any) {
	body["warning"] = "message_truncated"
	body["response_metadata"] = map[string]any{
		"warnings": []string{"message_truncated"},
		"messages": []string{truncatedMessage},
	}
}

const truncatedMessage = "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."

// metadataMessages reads response_metadata.messages back from an answer.
func metadataMessages(body map[string]any) []string {
	md, _ := body["response_metadata"].(map[string]any)
	msgs, _ := md["messages"].([]string)
	return append([]string(nil), msgs...)
}
