package slacktest

import "slices"

// ChannelType is the kind of conversation a channel ID names.
type ChannelType string

// The kinds of conversation.
const (
	PublicChannel  ChannelType = "public"  // "C…"
	PrivateChannel ChannelType = "private" // "C…" or, older, "G…"
	DirectMessage  ChannelType = "im"      // "D…", between two people
	GroupMessage   ChannelType = "mpim"    // a group DM
)

// Channel declares one conversation of the workspace. The zero value is a
// public channel the bot was never invited to.
type Channel struct {
	Type     ChannelType // default PublicChannel
	Name     string      // channel_name in payloads; default "backups", or Slack's "directmessage"/"privategroup"
	Member   bool        // the bot user is in the conversation
	Archived bool
	ReadOnly bool // only admins post: chat.postMessage answers restricted_action_read_only_channel
	// Users are the people in the conversation, for chat.postEphemeral's
	// user_not_in_channel; nil: everyone.
	Users []string
}

// SetChannel declares (or replaces) a conversation. A channel ID that was
// never declared is a public channel the bot is a member of: the state the
// README asks operators to set up, so tests that do not care about
// membership keep working, and tests that do declare their channels.
func (s *Server) SetChannel(id string, ch Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch.Users = slices.Clone(ch.Users)
	s.web.channels[id] = ch
}

// channelLocked is the declared conversation id, or the default one.
func (s *Server) channelLocked(id string) Channel {
	ch, declared := s.web.channels[id]
	if !declared {
		return Channel{Type: PublicChannel, Member: true}
	}
	if ch.Type == "" {
		ch.Type = PublicChannel
	}
	return ch
}

// channelName is what payloads call a conversation: its declared name, or
// what Slack sends for conversations without one.
func (s *Server) channelNameLocked(id string) string {
	ch := s.channelLocked(id)
	switch {
	case ch.Name != "":
		return ch.Name
	case ch.Type == DirectMessage:
		return "directmessage"
	case ch.Type == PrivateChannel || ch.Type == GroupMessage:
		return "privategroup"
	}
	return "backups"
}

func (s *Server) hasScopeLocked(scope string) bool { return slices.Contains(s.cfg.Scopes, scope) }

// postErrorLocked is what chat.postMessage answers for a conversation the
// bot cannot post in, "" when it can. A conversation that is not public
// and that the bot is not in does not exist for it (channel_not_found); a
// public one needs membership unless the token has chat:write.public.
func (s *Server) postErrorLocked(id string) string {
	ch := s.channelLocked(id)
	switch {
	case !ch.Member && ch.Type != PublicChannel:
		return "channel_not_found"
	case ch.Archived:
		return "is_archived"
	case !ch.Member && !s.hasScopeLocked("chat:write.public"):
		return "not_in_channel"
	case ch.ReadOnly:
		return "restricted_action_read_only_channel"
	}
	return ""
}

// ephemeralErrorLocked is chat.postEphemeral's rule: as chat.postMessage,
// but chat:write.public does not apply (the scope is for chat.postMessage
// only), and the user must be in the conversation.
func (s *Server) ephemeralErrorLocked(id, user string) string {
	ch := s.channelLocked(id)
	switch {
	case !ch.Member && ch.Type != PublicChannel:
		return "channel_not_found"
	case ch.Archived:
		return "is_archived"
	case !ch.Member:
		return "not_in_channel"
	case ch.Users != nil && !slices.Contains(ch.Users, user):
		return "user_not_in_channel"
	}
	return ""
}

// editErrorLocked is chat.update's and chat.delete's rule. Their reference
// lists no not_in_channel: the bot edits its own messages in a public
// channel it has left; a private conversation it is not in is not found,
// and chat.update answers is_inactive in an archived one.
func (s *Server) editErrorLocked(method, id string) string {
	ch := s.channelLocked(id)
	switch {
	case !ch.Member && ch.Type != PublicChannel:
		return "channel_not_found"
	case ch.Archived && method == "chat.update":
		return "is_inactive"
	}
	return ""
}
