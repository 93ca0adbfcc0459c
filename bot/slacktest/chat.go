package slacktest

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Text limits: chat.postMessage, response_url posts and ack payloads cut
// text past 40,000 characters (with a message_truncated warning);
// chat.postEphemeral refuses it (msg_too_long); chat.update refuses text
// past 4,000.
const (
	maxMessageText = 40000
	maxUpdateText  = 4000
)

// Message is a channel message as it stands now: posted by the bot (or an
// in_channel response), with every update applied.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // the parent's ts for a thread reply, "" otherwise
	Text     string
	Blocks   json.RawMessage // nil when the message has none
	User     string          // the bot user
	Updated  int             // how many times it was updated
}

// Ephemeral is a message only one user saw.
type Ephemeral struct {
	Channel  string
	User     string
	TS       string // message_ts for chat.postEphemeral
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	Via      string // "chat.postEphemeral", "response_url" or "ack"
	At       time.Time
}

// Messages lists the channel's messages, parents and thread replies, in post
// order, as they stand now; deleted messages are left out.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.web.messages {
		if m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Message returns one message as it stands now.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.web.byTS[key(channel, ts)]
	if m == nil {
		return Message{}, false
	}
	return *m, true
}

// Thread lists the replies whose thread_ts is ts, in post order.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.web.messages {
		if m.Channel == channel && m.ThreadTS == ts && m.TS != ts {
			out = append(out, *m)
		}
	}
	return out
}

// Ephemerals lists the ephemeral messages shown to user, or to anyone when
// user is "", in order.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.web.ephemerals {
		if user == "" || e.User == user {
			out = append(out, e)
		}
	}
	return out
}

func key(channel, ts string) string { return channel + "\x00" + ts }

// postLocked stores a new channel message from the bot.
func (s *Server) postLocked(channel, threadTS, text string, blocks json.RawMessage) *Message {
	m := &Message{
		Channel: channel, TS: s.tsLocked(), ThreadTS: threadTS,
		Text: text, Blocks: normBlocks(blocks), User: s.cfg.BotUserID,
	}
	s.web.messages = append(s.web.messages, m)
	s.web.byTS[key(channel, m.TS)] = m
	return m
}

// deleteLocked removes a message; it reports whether there was one.
func (s *Server) deleteLocked(channel, ts string) bool {
	k := key(channel, ts)
	m := s.web.byTS[k]
	if m == nil {
		return false
	}
	delete(s.web.byTS, k)
	for i, x := range s.web.messages {
		if x == m {
			s.web.messages = append(s.web.messages[:i:i], s.web.messages[i+1:]...)
			break
		}
	}
	return true
}

// messageJSONLocked is m as the Web API and interaction payloads show it.
func (s *Server) messageJSONLocked(m *Message) json.RawMessage {
	out := map[string]any{
		"type":    "message",
		"subtype": "bot_message",
		"text":    m.Text,
		"ts":      m.TS,
		"user":    m.User,
		"bot_id":  s.cfg.BotID,
		"app_id":  s.cfg.AppID,
		"team":    s.cfg.TeamID,
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		out["blocks"] = m.Blocks
	}
	if m.Updated > 0 {
		out["edited"] = map[string]any{"user": m.User, "ts": m.TS}
	}
	raw, _ := json.Marshal(out)
	return raw
}

// blocksParam reads the blocks parameter: absent (or empty), or present.
// A present value is checked as Block Kit by checkBlocks.
func blocksParam(req *apiRequest) (blocks json.RawMessage, present bool) {
	if !req.params.Has("blocks") || req.params.Get("blocks") == "" {
		return nil, false
	}
	return json.RawMessage(req.params.Get("blocks")), true
}

// normBlocks turns an empty or null block list into nil.
func normBlocks(b json.RawMessage) json.RawMessage {
	if !hasBlocks(b) {
		return nil
	}
	return b
}

func hasBlocks(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("[]"))
}

// messageProblem checks a message's text and blocks as the posting methods
// do: no_text, Block Kit (invalid_blocks, invalid_blocks_format), and, when
// maxText > 0, msg_too_long past maxText characters.
func messageProblem(p url.Values, blocks json.RawMessage, maxText int) (apiResult, bool) {
	if p.Get("text") == "" && !hasBlocks(blocks) && p.Get("attachments") == "" {
		return fail("no_text"), true
	}
	if bp := checkBlocks(blocks); bp != nil {
		return blocksFail(bp), true
	}
	if maxText > 0 && slackLen(p.Get("text")) > maxText {
		return fail("msg_too_long"), true
	}
	return apiResult{}, false
}

func (s *Server) chatPostMessage(req *apiRequest) apiResult {
	p := req.params
	channel, text := p.Get("channel"), p.Get("text")
	blocks, _ := blocksParam(req)
	if channel == "" {
		return fail("channel_not_found")
	}
	if code := s.postErrorLocked(channel); code != "" {
		return fail(code)
	}
	if res, bad := messageProblem(p, blocks, 0); bad {
		return res
	}
	// chat.postMessage does not refuse long text: it cuts it to 40,000
	// characters and warns (its reference lists no msg_too_long).
	truncated := slackLen(text) > maxMessageText
	if truncated {
		text = cutText(text, maxMessageText)
	}
	m := s.postLocked(channel, p.Get("thread_ts"), text, blocks)
	res := ok(map[string]any{"channel": channel, "ts": m.TS, "message": s.messageJSONLocked(m)})
	if truncated {
		truncatedWarning(res.body)
	}
	return res
}

func (s *Server) chatUpdate(req *apiRequest) apiResult {
	p := req.params
	channel, ts := p.Get("channel"), p.Get("ts")
	blocks, present := blocksParam(req)
	if channel == "" {
		return fail("channel_not_found")
	}
	if code := s.editErrorLocked("chat.update", channel); code != "" {
		return fail(code)
	}
	m := s.web.byTS[key(channel, ts)]
	if m == nil {
		return fail("message_not_found")
	}
	if bp := checkBlocks(blocks); bp != nil {
		return blocksFail(bp)
	}
	// chat.update's reference: "The text field cannot exceed 4,000 characters."
	if slackLen(p.Get("text")) > maxUpdateText {
		return fail("msg_too_long")
	}
	// Slack keeps what an update leaves out; blocks=[] removes the blocks.
	if p.Has("text") {
		m.Text = p.Get("text")
	}
	if present {
		m.Blocks = normBlocks(blocks)
	}
	m.Updated++
	return ok(map[string]any{"channel": channel, "ts": ts, "text": m.Text, "message": s.messageJSONLocked(m)})
}

func (s *Server) chatDelete(req *apiRequest) apiResult {
	channel, ts := req.params.Get("channel"), req.params.Get("ts")
	if channel == "" {
		return fail("channel_not_found")
	}
	if code := s.editErrorLocked("chat.delete", channel); code != "" {
		return fail(code)
	}
	if !s.deleteLocked(channel, ts) {
		return fail("message_not_found")
	}
	return ok(map[string]any{"channel": channel, "ts": ts})
}

// chatGetPermalink links to a message the way Slack does:
// https://<team>.slack.com/archives/<channel>/p<ts without the dot>.
func (s *Server) chatGetPermalink(req *apiRequest) apiResult {
	channel, ts := req.params.Get("channel"), req.params.Get("message_ts")
	if s.web.byTS[key(channel, ts)] == nil {
		return fail("message_not_found")
	}
	return ok(map[string]any{"channel": channel,
		"permalink": "https://fake.slack.com/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", "")})
}

func (s *Server) chatPostEphemeral(req *apiRequest) apiResult {
	p := req.params
	channel, user, text := p.Get("channel"), p.Get("user"), p.Get("text")
	blocks, _ := blocksParam(req)
	switch {
	case channel == "":
		return fail("channel_not_found")
	case user == "":
		return fail("user_not_found")
	}
	if code := s.ephemeralErrorLocked(channel, user); code != "" {
		return fail(code)
	}
	// chat.postEphemeral's reference lists msg_too_long; the limit is the
	// 40,000 characters of every message text.
	if res, bad := messageProblem(p, blocks, maxMessageText); bad {
		return res
	}
	ts := s.tsLocked()
	s.web.ephemerals = append(s.web.ephemerals, Ephemeral{
		Channel: channel, User: user, TS: ts, ThreadTS: p.Get("thread_ts"),
		Text: text, Blocks: normBlocks(blocks), Via: "chat.postEphemeral", At: time.Now(),
	})
	return ok(map[string]any{"message_ts": ts})
}

func (s *Server) authTest(*apiRequest) apiResult {
	fields := map[string]any{
		"url":                   "https://fake.slack.com/",
		"team":                  "Fake Team",
		"user":                  s.userLocked(s.cfg.BotUserID).Name,
		"team_id":               s.cfg.TeamID,
		"user_id":               s.cfg.BotUserID,
		"bot_id":                s.cfg.BotID,
		"is_enterprise_install": false,
	}
	if s.cfg.EnterpriseID != "" { // Slack sends it only within an organisation
		fields["enterprise_id"] = s.cfg.EnterpriseID
	}
	return ok(fields)
}

func (s *Server) usersInfo(req *apiRequest) apiResult {
	id := req.params.Get("user")
	if id == "" {
		return fail("user_not_found")
	}
	u := s.userLocked(id)
	return ok(map[string]any{"user": map[string]any{
		"id":        id,
		"team_id":   s.cfg.TeamID,
		"name":      u.Name,
		"deleted":   u.Deleted,
		"real_name": u.RealName,
		"tz":        u.TZ,
		"tz_label":  "Central European Time",
		"tz_offset": 3600,
		"profile": map[string]any{
			"real_name":    u.RealName,
			"display_name": u.DisplayName,
			"email":        u.Email,
			"team":         s.cfg.TeamID,
		},
		"is_bot":      u.IsBot,
		"is_admin":    u.IsAdmin,
		"is_owner":    false,
		"is_app_user": false,
		"updated":     1764237600,
	}})
}

func (s *Server) usergroupsUsersList(req *apiRequest) apiResult {
	members, found := s.web.groups[req.params.Get("usergroup")]
	if !found {
		return fail("no_such_subteam")
	}
	return ok(map[string]any{"users": append([]string{}, members...)})
}
