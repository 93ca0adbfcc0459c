package slacktest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponseURLUses is how often Slack accepts posts to one response_url.
const maxResponseURLUses = 5

// ResponsePost is one post to a response_url, accepted or not.
type ResponsePost struct {
	URL             string
	Body            json.RawMessage
	Text            string
	Blocks          json.RawMessage
	ResponseType    string // "ephemeral" (also when empty) or "in_channel"
	ReplaceOriginal bool
	DeleteOriginal  bool
	ThreadTS        string
	At              time.Time
	Status          int    // HTTP status answered
	Error           string // the error answered, "" when accepted
}

// responseURL is what the server knows about one issued response_url.
type responseURL struct {
	channel   string
	user      string
	messageTS string // the message an interaction came from
	uses      int
	expired   bool
}

// responseMessage is the body of a response_url post, and of a slash
// command's ack payload.
type responseMessage struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// ResponseURLPosts lists every post to a response_url, in order.
func (s *Server) ResponseURLPosts() []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResponsePost(nil), s.web.posts...)
}

// ExpireResponseURLs makes every response_url issued so far answer 404
// "expired_url", as Slack does 30 minutes after issuing one.
func (s *Server) ExpireResponseURLs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ru := range s.web.responses {
		ru.expired = true
	}
}

func (s *Server) newResponseURLLocked(channel, user, messageTS string) string {
	id := strconv.Itoa(s.nextLocked())
	s.web.responses[id] = &responseURL{channel: channel, user: user, messageTS: messageTS}
	return s.base + "/respond/" + id
}

// serveRespond answers posts to a response_url: a JSON message (or a form
// field "payload" holding one), at most five times per URL, in any
// conversation (the bot need not be in it), its blocks held to Block Kit's
// rules. It answers {"ok":true}; errors are HTTP 4xx with a short text
// body, as Slack's webhooks do ("invalid_blocks" is a 400). Every refused
// post is also a Rejection.
func (s *Server) serveRespond(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/respond/")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	if ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ctype == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			body = []byte(form.Get("payload"))
		}
	}
	post := ResponsePost{URL: s.base + r.URL.Path, Body: append(json.RawMessage(nil), body...), At: time.Now()}
	var msg responseMessage
	jsonErr := json.Unmarshal(body, &msg)
	if jsonErr == nil {
		post.Text, post.Blocks, post.ResponseType = msg.Text, normBlocks(msg.Blocks), msg.ResponseType
		post.ReplaceOriginal, post.DeleteOriginal, post.ThreadTS = msg.ReplaceOriginal, msg.DeleteOriginal, msg.ThreadTS
	}

	bp := checkBlocks(msg.Blocks)
	s.mu.Lock()
	ru := s.web.responses[id]
	switch {
	case r.Method != http.MethodPost:
		post.Status, post.Error = http.StatusMethodNotAllowed, "invalid_method"
	case ru == nil || ru.expired:
		post.Status, post.Error = http.StatusNotFound, "expired_url"
	case ru.uses >= maxResponseURLUses:
		post.Status, post.Error = http.StatusNotFound, "used_url"
	case jsonErr != nil:
		post.Status, post.Error = http.StatusBadRequest, "invalid_payload"
	case !msg.DeleteOriginal && msg.Text == "" && !hasBlocks(msg.Blocks):
		post.Status, post.Error = http.StatusBadRequest, "no_text"
	case bp != nil:
		post.Status, post.Error = http.StatusBadRequest, bp.code
	default:
		ru.uses++
		post.Status = http.StatusOK
		if slackLen(msg.Text) > maxMessageText {
			msg.Text = cutText(msg.Text, maxMessageText)
			s.rejectLocked(Rejection{Method: "response_url", Channel: ru.channel, Error: "message_truncated",
				Messages: []string{truncatedMessage}, Warning: true, Body: post.Body, At: post.At})
		}
		s.applyResponseLocked(ru, msg, post.At)
	}
	if post.Error != "" {
		r := Rejection{Method: "response_url", Error: post.Error, Body: post.Body, At: post.At}
		if ru != nil {
			r.Channel = ru.channel
		}
		if bp != nil && post.Error == bp.code {
			r.Messages = bp.messages()
		}
		s.rejectLocked(r)
	}
	s.web.posts = append(s.web.posts, post)
	s.notifyLocked()
	s.mu.Unlock()

	if post.Error != "" {
		http.Error(w, post.Error, post.Status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = io.WriteString(w, `{"ok":true}`+"\n")
}

// applyResponseLocked shows a response_url message as Slack would:
// delete_original and replace_original act on the message an interaction
// came from; in_channel posts to the channel; anything else is ephemeral.
func (s *Server) applyResponseLocked(ru *responseURL, msg responseMessage, at time.Time) {
	orig := s.web.byTS[key(ru.channel, ru.messageTS)]
	switch {
	case msg.DeleteOriginal && orig != nil:
		s.deleteLocked(ru.channel, ru.messageTS)
	case msg.DeleteOriginal:
		// nothing the fake can show: a slash command's original is ephemeral
	case msg.ReplaceOriginal && orig != nil:
		orig.Text, orig.Blocks = msg.Text, normBlocks(msg.Blocks)
		orig.Updated++
	case msg.ResponseType == "in_channel":
		s.postLocked(ru.channel, msg.ThreadTS, msg.Text, msg.Blocks)
	default:
		s.web.ephemerals = append(s.web.ephemerals, Ephemeral{
			Channel: ru.channel, User: ru.user, ThreadTS: msg.ThreadTS,
			Text: msg.Text, Blocks: normBlocks(msg.Blocks), Via: "response_url", At: at,
		})
	}
}
