package slacktest

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Block Kit limits, as Slack's reference documents them (docs.slack.dev,
// reference/block-kit): a message holds at most 50 blocks; a section's text
// at most 3,000 characters and at most 10 fields of 2,000; a header
// plain_text of 150; a context at most 10 elements; an actions block at
// most 25; a button plain_text of 75, a value of 2,000, an action_id of
// 255; a confirmation dialog a plain_text title of 100, a plain_text text
// of 300 and plain_text buttons of 30; any text object 1 to 3,000.
const (
	maxBlocks         = 50
	maxSectionText    = 3000
	maxFields         = 10
	maxFieldText      = 2000
	maxHeaderText     = 150
	maxContextItems   = 10
	maxActionElements = 25
	maxButtonText     = 75
	maxButtonValue    = 2000
	maxButtonURL      = 3000
	maxID             = 255 // action_id and block_id
	maxConfirmTitle   = 100
	maxConfirmText    = 300
	maxConfirmButton  = 30
	maxTextObject     = 3000
	maxMarkdownBlock  = 12000
)

// blockProblem is Slack's answer to blocks it refuses: the error code
// ("invalid_blocks", or "invalid_blocks_format" when blocks is not a JSON
// array) and the lines Slack puts in "errors" (and, prefixed with
// "[ERROR] ", in response_metadata.messages), each naming a JSON pointer.
type blockProblem struct {
	code   string
	errors []string
}

// checkBlocks validates a message's blocks as Slack does; it returns nil
// when Slack would accept them. An absent or empty list is valid.
func checkBlocks(raw json.RawMessage) *blockProblem {
	if !hasBlocks(raw) {
		return nil
	}
	var blocks []json.RawMessage
	if json.Unmarshal(raw, &blocks) != nil {
		return &blockProblem{code: "invalid_blocks_format",
			errors: []string{"must provide an array [json-pointer:/blocks]"}}
	}
	c := &blockCheck{actionIDs: map[string]bool{}, blockIDs: map[string]bool{}}
	if len(blocks) > maxBlocks {
		c.fail("/blocks", "no more than %d items allowed", maxBlocks)
	}
	for i, b := range blocks {
		c.block(fmt.Sprintf("/blocks/%d", i), b)
	}
	if len(c.errs) == 0 {
		return nil
	}
	return &blockProblem{code: "invalid_blocks", errors: c.errs}
}

// messages is the problem as response_metadata.messages.
func (p *blockProblem) messages() []string {
	out := make([]string, len(p.errors))
	for i, e := range p.errors {
		out[i] = "[ERROR] " + e
	}
	return out
}

// slackLen counts text as Slack counts it for its limits: in characters
// (runes, not bytes), with the three entities Slack's formatting asks for
// (&amp; &lt; &gt;) counted as the one character they stand for.
func slackLen(s string) int { return utf8.RuneCountInString(unescape(s)) }

var entities = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

func unescape(s string) string { return entities.Replace(s) }

// cutText shortens s to at most n characters as slackLen counts them,
// never splitting an entity.
func cutText(s string, n int) string {
	count := 0
	for i := 0; i < len(s); {
		if count == n {
			return s[:i]
		}
		step := 1
		for _, e := range [...]string{"&amp;", "&lt;", "&gt;"} {
			if strings.HasPrefix(s[i:], e) {
				step = len(e)
			}
		}
		if step == 1 {
			_, step = utf8.DecodeRuneInString(s[i:])
		}
		i += step
		count++
	}
	return s
}

// blockCheck collects the problems of one message's blocks; action_id and
// block_id must each be unique in the message.
type blockCheck struct {
	errs      []string
	actionIDs map[string]bool
	blockIDs  map[string]bool
}

func (c *blockCheck) fail(ptr, format string, a ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, a...)+" [json-pointer:"+ptr+"]")
}

// object is a JSON object with its values left raw.
type object map[string]json.RawMessage

func asObject(raw json.RawMessage) (object, bool) {
	var o object
	if json.Unmarshal(raw, &o) != nil || o == nil {
		return nil, false
	}
	return o, true
}

// str is the string value of key; ok is false when it is absent or not a
// string.
func (o object) str(key string) (string, bool) {
	var s string
	raw, found := o[key]
	if !found || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func (c *blockCheck) block(p string, raw json.RawMessage) {
	b, ok := asObject(raw)
	if !ok {
		c.fail(p, "must provide an object")
		return
	}
	typ, _ := b.str("type")
	if typ == "" {
		c.fail(p, "missing required field: type")
		return
	}
	c.uniqueID(p, b, "block_id", c.blockIDs)
	switch typ {
	case "section":
		c.section(p, b)
	case "header":
		c.textField(p, b, "text", true, maxHeaderText, true)
	case "context":
		c.context(p, b)
	case "actions":
		els := c.list(p, b, "elements", maxActionElements)
		for i, el := range els {
			c.element(fmt.Sprintf("%s/elements/%d", p, i), el)
		}
	case "markdown":
		if text, ok := b.str("text"); !ok {
			c.fail(p, "missing required field: text")
		} else if slackLen(text) > maxMarkdownBlock {
			c.fail(p+"/text", "must be less than %d characters", maxMarkdownBlock+1)
		}
	case "divider", "image", "rich_text", "input", "file", "video", "table", "context_actions":
		// accepted as they are: the bot does not send them
	default:
		c.fail(p, "failed to match all allowed schemas")
	}
}

// uniqueID checks an optional block_id or action_id: at most 255
// characters and not used before in the message.
func (c *blockCheck) uniqueID(p string, o object, key string, seen map[string]bool) {
	if _, present := o[key]; !present {
		return
	}
	id, ok := o.str(key)
	switch {
	case !ok:
		c.fail(p+"/"+key, "must be a string")
	case utf8.RuneCountInString(id) > maxID:
		c.fail(p+"/"+key, "must be less than %d characters", maxID+1)
	case seen[id]:
		c.fail(p+"/"+key, "duplicate %s", key)
	default:
		seen[id] = true
	}
}

func (c *blockCheck) section(p string, b object) {
	_, hasText := b["text"]
	_, hasFields := b["fields"]
	if !hasText && !hasFields {
		c.fail(p, "missing required field: text")
	}
	c.textField(p, b, "text", false, maxSectionText, false)
	if hasFields {
		for i, f := range c.list(p, b, "fields", maxFields) {
			c.textObject(fmt.Sprintf("%s/fields/%d", p, i), f, false, maxFieldText)
		}
	}
	if acc, present := b["accessory"]; present {
		c.element(p+"/accessory", acc)
	}
}

func (c *blockCheck) context(p string, b object) {
	for i, el := range c.list(p, b, "elements", maxContextItems) {
		ep := fmt.Sprintf("%s/elements/%d", p, i)
		o, _ := asObject(el)
		switch typ, _ := o.str("type"); typ {
		case "image":
		case "plain_text", "mrkdwn":
			c.textObject(ep, el, false, maxTextObject)
		default:
			c.fail(ep, "failed to match all allowed schemas")
		}
	}
}

// list reads a required, non-empty array of at most max items.
func (c *blockCheck) list(p string, o object, key string, max int) []json.RawMessage {
	raw, present := o[key]
	if !present {
		c.fail(p, "missing required field: %s", key)
		return nil
	}
	var items []json.RawMessage
	switch {
	case json.Unmarshal(raw, &items) != nil:
		c.fail(p+"/"+key, "must provide an array")
	case len(items) == 0:
		c.fail(p+"/"+key, "must provide at least 1 items")
	case len(items) > max:
		c.fail(p+"/"+key, "no more than %d items allowed", max)
	}
	return items
}

// element checks an interactive element: a button in full, any other
// element's action_id and confirm.
func (c *blockCheck) element(p string, raw json.RawMessage) {
	el, ok := asObject(raw)
	if !ok {
		c.fail(p, "must provide an object")
		return
	}
	typ, _ := el.str("type")
	if typ == "" {
		c.fail(p, "missing required field: type")
		return
	}
	c.uniqueID(p, el, "action_id", c.actionIDs)
	if typ == "button" {
		c.textField(p, el, "text", true, maxButtonText, true)
		c.maxString(p, el, "value", maxButtonValue)
		c.maxString(p, el, "url", maxButtonURL)
		c.maxString(p, el, "accessibility_label", maxButtonText)
		c.style(p, el)
	}
	if conf, present := el["confirm"]; present {
		c.confirm(p+"/confirm", conf)
	}
}

// confirm checks a confirmation dialog: title, text, confirm and deny are
// all required and all plain_text (Slack's reference for the confirmation
// dialog object; a mrkdwn text would be shown with its markup).
func (c *blockCheck) confirm(p string, raw json.RawMessage) {
	o, ok := asObject(raw)
	if !ok {
		c.fail(p, "must provide an object")
		return
	}
	c.textField(p, o, "title", true, maxConfirmTitle, true)
	c.textField(p, o, "text", true, maxConfirmText, true)
	c.textField(p, o, "confirm", true, maxConfirmButton, true)
	c.textField(p, o, "deny", true, maxConfirmButton, true)
	c.style(p, o)
}

func (c *blockCheck) style(p string, o object) {
	if _, present := o["style"]; !present {
		return
	}
	if s, _ := o.str("style"); s != "primary" && s != "danger" {
		c.fail(p+"/style", "must be a valid enum value")
	}
}

func (c *blockCheck) maxString(p string, o object, key string, max int) {
	if _, present := o[key]; !present {
		return
	}
	if s, ok := o.str(key); !ok {
		c.fail(p+"/"+key, "must be a string")
	} else if utf8.RuneCountInString(s) > max {
		c.fail(p+"/"+key, "must be less than %d characters", max+1)
	}
}

func (c *blockCheck) textField(p string, o object, key string, plainOnly bool, max int, required bool) {
	raw, present := o[key]
	if !present {
		if required {
			c.fail(p, "missing required field: %s", key)
		}
		return
	}
	c.textObject(p+"/"+key, raw, plainOnly, max)
}

// textObject checks a text object. Like Slack, it reports a failed schema
// match for the object before the detail.
func (c *blockCheck) textObject(p string, raw json.RawMessage, plainOnly bool, max int) {
	detail := &blockCheck{}
	t, ok := asObject(raw)
	if !ok {
		c.fail(p, "must provide an object")
		return
	}
	typ, _ := t.str("type")
	switch {
	case typ != "plain_text" && typ != "mrkdwn":
		detail.fail(p+"/type", "must be a valid enum value")
	case plainOnly && typ == "mrkdwn":
		detail.fail(p+"/type", "must be one of: plain_text")
	case typ == "mrkdwn" && t["emoji"] != nil:
		detail.fail(p, "invalid additional property: emoji")
	case typ == "plain_text" && t["verbatim"] != nil:
		detail.fail(p, "invalid additional property: verbatim")
	}
	text, ok := t.str("text")
	switch n := slackLen(text); {
	case !ok:
		detail.fail(p, "missing required field: text")
	case n == 0:
		detail.fail(p+"/text", "must be more than 0 characters")
	case n > max:
		detail.fail(p+"/text", "must be less than %d characters", max+1)
	}
	if len(detail.errs) > 0 {
		c.fail(p, "failed to match all allowed schemas")
		c.errs = append(c.errs, detail.errs...)
	}
}
