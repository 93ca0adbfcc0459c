package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SlashCommand is what a user typed. Empty fields get defaults.
type SlashCommand struct {
	Command     string // default "/backup"
	Text        string // everything after the command
	UserID      string // default "U0USER"
	UserName    string // default: the users.info name of UserID
	ChannelID   string // default "C0CHAN"
	ChannelName string // default: the channel's name, see Channel.Name
	TeamDomain  string // default "fake"
}

// Click is a user pressing a button on a message.
type Click struct {
	UserID      string // default "U0USER"
	UserName    string // default: the users.info name of UserID
	ChannelID   string // default "C0CHAN"
	ChannelName string // default: the channel's name, see Channel.Name
	MessageTS   string // the message the button is on
	ActionID    string
	// BlockID and Value, when empty, are taken from the button with
	// ActionID in the stored message's blocks, if there is one.
	BlockID string
	Value   string
	// TeamID, AppID and EnterpriseID, when set, are the payload's team.id,
	// api_app_id and enterprise.id instead of the server's own (a click
	// from another workspace, app or organisation).
	TeamID, AppID, EnterpriseID string
}

// Envelope is one envelope the server wrote to a socket-mode connection.
type Envelope struct {
	ID           string
	Type         string // "slash_commands" or "interactive"
	Payload      json.RawMessage
	RetryAttempt int
	RetryReason  string
	Conn         int // the connection it was written to, numbered from 1
	SentAt       time.Time
}

// Ack is one acknowledgement read from a socket-mode connection.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the ack had no payload
	// Error is why Slack would not show a slash command's ack payload
	// ("invalid_blocks", "invalid_payload"), "" when it would; the refusal
	// is also a Rejection with Method "ack".
	Error   string
	SentAt  time.Time // when the envelope was last written; zero for an unknown ID
	AckedAt time.Time
	Conn    int // the connection the ack came on
}

// envelope is what the server remembers about an envelope ID.
type envelope struct {
	typ      string
	payload  json.RawMessage
	accepts  bool
	user     string
	channel  string
	lastSent time.Time
}

// wireEnvelope is the envelope as Slack writes it.
type wireEnvelope struct {
	EnvelopeID             string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	Payload                json.RawMessage `json:"payload"`
	RetryAttempt           int             `json:"retry_attempt,omitempty"`
	RetryReason            string          `json:"retry_reason,omitempty"`
}

// SlashCommand pushes a "slash_commands" envelope to the next open
// connection (round-robin) and returns its envelope ID once it is written.
func (s *Server) SlashCommand(ctx context.Context, cmd SlashCommand) (string, error) {
	s.mu.Lock()
	cmd = s.slashDefaultsLocked(cmd)
	ru := s.newResponseURLLocked(cmd.ChannelID, cmd.UserID, "")
	payload := slashPayload{
		Token:               "fakeverificationtoken",
		TeamID:              s.cfg.TeamID,
		TeamDomain:          cmd.TeamDomain,
		ChannelID:           cmd.ChannelID,
		ChannelName:         cmd.ChannelName,
		UserID:              cmd.UserID,
		UserName:            cmd.UserName,
		Command:             cmd.Command,
		Text:                cmd.Text,
		APIAppID:            s.cfg.AppID,
		IsEnterpriseInstall: "false",
		ResponseURL:         ru,
		TriggerID:           s.triggerIDLocked(),
	}
	s.mu.Unlock()
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("slacktest: slash command: %w", err)
	}
	env := &envelope{typ: "slash_commands", payload: raw, accepts: true, user: cmd.UserID, channel: cmd.ChannelID}
	id, err := s.deliver(ctx, env, "", 0)
	if err != nil {
		return "", fmt.Errorf("slacktest: slash command %s %q: %w", cmd.Command, cmd.Text, err)
	}
	return id, nil
}

// Click pushes an "interactive" envelope with a block_actions payload for
// a button press and returns its envelope ID once it is written. When the
// message is one the bot posted, the payload carries it as it stands now.
func (s *Server) Click(ctx context.Context, c Click) (string, error) {
	s.mu.Lock()
	c = s.clickDefaultsLocked(c)
	raw, err := s.clickPayloadLocked(c)
	s.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("slacktest: click %s: %w", c.ActionID, err)
	}
	env := &envelope{typ: "interactive", payload: raw, user: c.UserID, channel: c.ChannelID}
	id, err := s.deliver(ctx, env, "", 0)
	if err != nil {
		return "", fmt.Errorf("slacktest: click %s: %w", c.ActionID, err)
	}
	return id, nil
}

// Resend delivers an earlier envelope again as Slack's retry does: the same
// payload with retry_attempt and retry_reason "timeout", under the same
// envelope ID or a new one, to the next open connection. It returns the
// envelope ID used.
func (s *Server) Resend(ctx context.Context, envelopeID string, retryAttempt int, sameEnvelopeID bool) (string, error) {
	s.mu.Lock()
	orig, found := s.sock.envelopes[envelopeID]
	s.mu.Unlock()
	if !found {
		return "", fmt.Errorf("slacktest: resend %s: unknown envelope", envelopeID)
	}
	env := *orig
	id := ""
	if sameEnvelopeID {
		id = envelopeID
	}
	id, err := s.deliver(ctx, &env, id, retryAttempt)
	if err != nil {
		return "", fmt.Errorf("slacktest: resend %s: %w", envelopeID, err)
	}
	return id, nil
}

// deliver writes env to the next open connection under id (a new ID when
// empty) and waits until it is written. A connection that closes before
// the write is skipped for the next one.
func (s *Server) deliver(ctx context.Context, env *envelope, id string, retryAttempt int) (string, error) {
	s.mu.Lock()
	if id == "" {
		id = s.envelopeIDLocked()
	}
	if _, known := s.sock.envelopes[id]; !known {
		s.sock.envelopes[id] = env
	}
	s.mu.Unlock()

	w := wireEnvelope{EnvelopeID: id, Type: env.typ, AcceptsResponsePayload: env.accepts, Payload: env.payload}
	if retryAttempt > 0 {
		w.RetryAttempt, w.RetryReason = retryAttempt, "timeout"
	}
	data, err := json.Marshal(w)
	if err != nil {
		return "", err
	}
	for {
		s.mu.Lock()
		c, err := s.pickLocked()
		s.mu.Unlock()
		if err != nil {
			return "", err
		}
		record := func(at time.Time) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.sock.envelopes[id].lastSent = at
			s.sock.sent = append(s.sock.sent, Envelope{
				ID: id, Type: env.typ, Payload: env.payload,
				RetryAttempt: w.RetryAttempt, RetryReason: w.RetryReason,
				Conn: c.id, SentAt: at,
			})
			s.notifyLocked()
		}
		_, err = c.send(ctx, frame{data: data, sent: make(chan sendResult, 1), beforeSend: record})
		if !errors.Is(err, errConnClosed) {
			if err != nil {
				return "", err
			}
			return id, nil
		}
	}
}

// Envelopes lists the envelopes written so far, in order.
func (s *Server) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Envelope(nil), s.sock.sent...)
}

// Ack waits for the first acknowledgement of envelopeID and returns it.
func (s *Server) Ack(ctx context.Context, envelopeID string) (Ack, error) {
	var a Ack
	err := s.wait(ctx, func() bool {
		for _, x := range s.sock.acks {
			if x.EnvelopeID == envelopeID {
				a = x
				return true
			}
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("slacktest: wait for ack of %s: %w", envelopeID, err)
	}
	return a, nil
}

// Acks lists every acknowledgement received, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.sock.acks...)
}

// AckCount is how many acknowledgements were received: len(Acks()),
// without copying them (a benchmark that polls it measures the bot, not
// the copies).
func (s *Server) AckCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sock.acks)
}

// recordAck stores an ack frame. A slash command's ack payload with text
// or blocks is shown as Slack shows it: to the user alone (Ephemeral, Via
// "ack") or, with "response_type":"in_channel", as a channel message (in
// any conversation) — unless its blocks break Block Kit's rules.
func (s *Server) recordAck(connID int, data []byte) {
	var in struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(data, &in); err != nil {
		in.EnvelopeID, in.Payload = "", json.RawMessage(data) // keep the unreadable frame visible
	}
	if string(in.Payload) == "null" {
		in.Payload = nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := Ack{EnvelopeID: in.EnvelopeID, Payload: in.Payload, AckedAt: time.Now(), Conn: connID}
	env := s.sock.envelopes[in.EnvelopeID]
	if env != nil {
		a.SentAt = env.lastSent
	}
	if env != nil && env.typ == "slash_commands" && in.Payload != nil {
		a.Error = s.showAckLocked(env, in.Payload, a.AckedAt)
	}
	s.sock.acks = append(s.sock.acks, a)
	s.notifyLocked()
}

// showAckLocked shows a slash command's ack payload as Slack would, or
// records why it would not; it returns that error, "" when shown.
func (s *Server) showAckLocked(env *envelope, payload json.RawMessage, at time.Time) string {
	var m responseMessage
	r := Rejection{Method: "ack", Channel: env.channel, Body: append(json.RawMessage(nil), payload...), At: at}
	if json.Unmarshal(payload, &m) != nil {
		r.Error = "invalid_payload"
	} else if bp := checkBlocks(m.Blocks); bp != nil {
		r.Error, r.Messages = bp.code, bp.messages()
	}
	if r.Error != "" {
		s.rejectLocked(r)
		return r.Error
	}
	if m.Text == "" && !hasBlocks(m.Blocks) {
		return ""
	}
	if slackLen(m.Text) > maxMessageText {
		m.Text = cutText(m.Text, maxMessageText)
		r.Error, r.Messages, r.Warning = "message_truncated", []string{truncatedMessage}, true
		s.rejectLocked(r)
	}
	if m.ResponseType == "in_channel" {
		s.postLocked(env.channel, m.ThreadTS, m.Text, m.Blocks)
	} else {
		s.web.ephemerals = append(s.web.ephemerals, Ephemeral{
			Channel: env.channel, User: env.user, Text: m.Text, Blocks: normBlocks(m.Blocks),
			Via: "ack", At: at,
		})
	}
	return ""
}

// envelopeIDLocked returns a new envelope ID, shaped like Slack's UUIDs.
func (s *Server) envelopeIDLocked() string {
	n := s.nextLocked()
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}

func (s *Server) triggerIDLocked() string {
	n := s.nextLocked()
	return fmt.Sprintf("%d.%d.%032x", 1764237600+n, 1000+n, n)
}

func (s *Server) slashDefaultsLocked(cmd SlashCommand) SlashCommand {
	if cmd.Command == "" {
		cmd.Command = "/backup"
	}
	if cmd.UserID == "" {
		cmd.UserID = "U0USER"
	}
	if cmd.UserName == "" {
		cmd.UserName = s.userLocked(cmd.UserID).Name
	}
	if cmd.ChannelID == "" {
		cmd.ChannelID = "C0CHAN"
	}
	if cmd.ChannelName == "" {
		cmd.ChannelName = s.channelNameLocked(cmd.ChannelID)
	}
	if cmd.TeamDomain == "" {
		cmd.TeamDomain = "fake"
	}
	return cmd
}

// slashPayload is a slash command's payload, field for field as Slack
// sends it (is_enterprise_install is a string there).
type slashPayload struct {
	Token               string `json:"token"`
	TeamID              string `json:"team_id"`
	TeamDomain          string `json:"team_domain"`
	ChannelID           string `json:"channel_id"`
	ChannelName         string `json:"channel_name"`
	UserID              string `json:"user_id"`
	UserName            string `json:"user_name"`
	Command             string `json:"command"`
	Text                string `json:"text"`
	APIAppID            string `json:"api_app_id"`
	IsEnterpriseInstall string `json:"is_enterprise_install"`
	ResponseURL         string `json:"response_url"`
	TriggerID           string `json:"trigger_id"`
}

// Unreadable delivers an envelope of type typ whose payload a client cannot
// read (a string where an object belongs), as a corrupted frame would be,
// and returns its envelope ID: Slack waits for its ack all the same.
func (s *Server) Unreadable(ctx context.Context, typ string) (string, error) {
	env := &envelope{typ: typ, payload: json.RawMessage(`"unreadable"`), accepts: true}
	id, err := s.deliver(ctx, env, "", 0)
	if err != nil {
		return "", fmt.Errorf("slacktest: unreadable envelope: %w", err)
	}
	return id, nil
}
