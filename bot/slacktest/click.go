package slacktest

import (
	"encoding/json"
	"fmt"
	"time"
)

// clickPayload is a block_actions payload as Slack sends it for a button on
// a channel message.
type clickPayload struct {
	Type                string           `json:"type"`
	User                clickUser        `json:"user"`
	APIAppID            string           `json:"api_app_id"`
	Token               string           `json:"token"`
	Container           clickContainer   `json:"container"`
	TriggerID           string           `json:"trigger_id"`
	Team                clickTeam        `json:"team"`
	Enterprise          *clickEnterprise `json:"enterprise"`
	IsEnterpriseInstall bool             `json:"is_enterprise_install"`
	Channel             clickChannel     `json:"channel"`
	Message             json.RawMessage  `json:"message"`
	State               clickState       `json:"state"`
	ResponseURL         string           `json:"response_url"`
	Actions             []clickAction    `json:"actions"`
}

type clickUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	TeamID   string `json:"team_id"`
}

type clickContainer struct {
	Type        string `json:"type"`
	MessageTS   string `json:"message_ts"`
	ChannelID   string `json:"channel_id"`
	IsEphemeral bool   `json:"is_ephemeral"`
	ThreadTS    string `json:"thread_ts,omitempty"`
}

type clickTeam struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

type clickEnterprise struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type clickChannel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type clickState struct {
	Values map[string]any `json:"values"`
}

type clickAction struct {
	ActionID string    `json:"action_id"`
	BlockID  string    `json:"block_id"`
	Text     plainText `json:"text"`
	Value    string    `json:"value"`
	Style    string    `json:"style,omitempty"`
	Type     string    `json:"type"`
	ActionTS string    `json:"action_ts"`
}

type plainText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji"`
}

// button is an interactive element found in a message's blocks.
type button struct {
	ActionID string    `json:"action_id"`
	Value    string    `json:"value"`
	Style    string    `json:"style"`
	Text     plainText `json:"text"`
	blockID  string
}

func (s *Server) clickDefaultsLocked(c Click) Click {
	if c.UserID == "" {
		c.UserID = "U0USER"
	}
	if c.UserName == "" {
		c.UserName = s.userLocked(c.UserID).Name
	}
	if c.ChannelID == "" {
		c.ChannelID = "C0CHAN"
	}
	if c.ChannelName == "" {
		c.ChannelName = s.channelNameLocked(c.ChannelID)
	}
	if c.TeamID == "" {
		c.TeamID = s.cfg.TeamID
	}
	if c.AppID == "" {
		c.AppID = s.cfg.AppID
	}
	if c.EnterpriseID == "" {
		c.EnterpriseID = s.cfg.EnterpriseID
	}
	return c
}

// clickPayloadLocked builds the payload of a click; c has its defaults.
func (s *Server) clickPayloadLocked(c Click) (json.RawMessage, error) {
	if c.ActionID == "" {
		return nil, fmt.Errorf("no action_id")
	}
	action := clickAction{
		ActionID: c.ActionID,
		BlockID:  c.BlockID,
		Text:     plainText{Type: "plain_text", Text: c.ActionID, Emoji: true},
		Value:    c.Value,
		Type:     "button",
		ActionTS: slackTime(time.Now()),
	}
	container := clickContainer{Type: "message", MessageTS: c.MessageTS, ChannelID: c.ChannelID}
	var message json.RawMessage
	if m := s.web.byTS[key(c.ChannelID, c.MessageTS)]; m != nil {
		message = s.messageJSONLocked(m)
		container.ThreadTS = m.ThreadTS
		if b, found := findButton(m.Blocks, c.ActionID); found {
			if action.BlockID == "" {
				action.BlockID = b.blockID
			}
			if action.Value == "" {
				action.Value = b.Value
			}
			if b.Text.Text != "" {
				action.Text = b.Text
			}
			action.Style = b.Style
		}
	} else {
		message, _ = json.Marshal(map[string]any{
			"type": "message", "ts": c.MessageTS, "text": "",
			"user": s.cfg.BotUserID, "bot_id": s.cfg.BotID,
		})
	}
	if action.BlockID == "" {
		action.BlockID = "fake_block" // slack-go tells block actions from legacy ones by block_id
	}
	var enterprise *clickEnterprise // null outside Enterprise Grid
	if c.EnterpriseID != "" {
		enterprise = &clickEnterprise{ID: c.EnterpriseID, Name: "Fake Org"}
	}
	p := clickPayload{
		Type:        "block_actions",
		User:        clickUser{ID: c.UserID, Username: c.UserName, Name: c.UserName, TeamID: c.TeamID},
		APIAppID:    c.AppID,
		Token:       "fakeverificationtoken",
		Container:   container,
		TriggerID:   s.triggerIDLocked(),
		Team:        clickTeam{ID: c.TeamID, Domain: "fake"},
		Enterprise:  enterprise,
		Channel:     clickChannel{ID: c.ChannelID, Name: c.ChannelName},
		Message:     message,
		State:       clickState{Values: map[string]any{}},
		ResponseURL: s.newResponseURLLocked(c.ChannelID, c.UserID, c.MessageTS),
		Actions:     []clickAction{action},
	}
	return json.Marshal(p)
}

// findButton looks for the element with actionID in a message's blocks:
// the elements of actions blocks and the accessories of sections.
func findButton(blocks json.RawMessage, actionID string) (button, bool) {
	var bs []struct {
		BlockID   string            `json:"block_id"`
		Elements  []json.RawMessage `json:"elements"`
		Accessory json.RawMessage   `json:"accessory"`
	}
	if json.Unmarshal(blocks, &bs) != nil {
		return button{}, false
	}
	for _, b := range bs {
		els := b.Elements
		if len(b.Accessory) > 0 {
			els = append(els, b.Accessory)
		}
		for _, el := range els {
			var btn button
			if json.Unmarshal(el, &btn) == nil && btn.ActionID == actionID {
				btn.blockID = b.BlockID
				return btn, true
			}
		}
	}
	return button{}, false
}

// slackTime formats t as a Slack timestamp, "seconds.micros".
func slackTime(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}
