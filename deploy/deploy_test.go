package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// wantBotScopes is exactly what the bot's Web API calls need; see the
// comments in slack-app-manifest.yaml. Adding or dropping a scope there is a
// decision: make it here too.
var wantBotScopes = []string{"chat:write", "commands", "usergroups:read"}

// manifest models the parts of Slack's app manifest schema 1.0 that
// backupbot uses. Within each object every key the schema allows is listed,
// so that strict decoding rejects typos (Slack rejects unknown keys too).
// The top level lists only the sections a socket-mode bot needs: the others
// (app_directory, functions, workflows, …) are for the App Directory and
// Slack-hosted apps.
type manifest struct {
	Metadata           *metadata           `yaml:"_metadata"`
	DisplayInformation *displayInformation `yaml:"display_information"`
	Features           *features           `yaml:"features"`
	OAuthConfig        *oauthConfig        `yaml:"oauth_config"`
	Settings           *settings           `yaml:"settings"`
}

type metadata struct {
	SchemaVersion *int `yaml:"schema_version"`
	MinVersion    *int `yaml:"min_version"`
	MajorVersion  *int `yaml:"major_version"`
	MinorVersion  *int `yaml:"minor_version"`
}

type displayInformation struct {
	Name            *string `yaml:"name"`
	Description     *string `yaml:"description"`
	BackgroundColor *string `yaml:"background_color"`
	LongDescription *string `yaml:"long_description"`
}

type features struct {
	AppHome       *appHome       `yaml:"app_home"`
	BotUser       *botUser       `yaml:"bot_user"`
	SlashCommands []slashCommand `yaml:"slash_commands"`
	Functions     any            `yaml:"functions"`
	Shortcuts     any            `yaml:"shortcuts"`
	WorkflowSteps any            `yaml:"workflow_steps"`
	UnfurlDomains any            `yaml:"unfurl_domains"`
	AssistantView any            `yaml:"assistant_view"`
}

type appHome struct {
	HomeTabEnabled             *bool `yaml:"home_tab_enabled"`
	MessagesTabEnabled         *bool `yaml:"messages_tab_enabled"`
	MessagesTabReadOnlyEnabled *bool `yaml:"messages_tab_read_only_enabled"`
}

type botUser struct {
	DisplayName  *string `yaml:"display_name"`
	AlwaysOnline *bool   `yaml:"always_online"`
}

type slashCommand struct {
	Command      *string `yaml:"command"`
	URL          *string `yaml:"url"`
	Description  *string `yaml:"description"`
	UsageHint    *string `yaml:"usage_hint"`
	ShouldEscape *bool   `yaml:"should_escape"`
}

type oauthConfig struct {
	RedirectURLs           []string `yaml:"redirect_urls"`
	Scopes                 *scopes  `yaml:"scopes"`
	TokenManagementEnabled *bool    `yaml:"token_management_enabled"`
	PKCEEnabled            *bool    `yaml:"pkce_enabled"`
}

type scopes struct {
	User         []string `yaml:"user"`
	Bot          []string `yaml:"bot"`
	UserOptional []string `yaml:"user_optional"`
	BotOptional  []string `yaml:"bot_optional"`
}

type settings struct {
	AllowedIPAddressRanges []string       `yaml:"allowed_ip_address_ranges"`
	EventSubscriptions     any            `yaml:"event_subscriptions"`
	IncomingWebhooks       any            `yaml:"incoming_webhooks"`
	Interactivity          *interactivity `yaml:"interactivity"`
	OrgDeployEnabled       *bool          `yaml:"org_deploy_enabled"`
	SocketModeEnabled      *bool          `yaml:"socket_mode_enabled"`
	IsHosted               *bool          `yaml:"is_hosted"`
	TokenRotationEnabled   *bool          `yaml:"token_rotation_enabled"`
	SIWSLinks              any            `yaml:"siws_links"`
	HermesAppType          any            `yaml:"hermes_app_type"`
	FunctionRuntime        any            `yaml:"function_runtime"`
	IsMCPEnabled           *bool          `yaml:"is_mcp_enabled"`
}

type interactivity struct {
	IsEnabled             *bool   `yaml:"is_enabled"`
	RequestURL            *string `yaml:"request_url"`
	MessageMenuOptionsURL *string `yaml:"message_menu_options_url"`
}

const manifestFile = "slack-app-manifest.yaml"

func readManifest(t *testing.T) manifest {
	t.Helper()
	data, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v (a key the test does not know is either a typo or a section backupbot does not use)", manifestFile, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one YAML document", manifestFile)
	}
	return m
}

func isTrue(b *bool) bool { return b != nil && *b }

func TestManifestTopLevelKeys(t *testing.T) {
	data, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatalf("%s: %v", manifestFile, err)
	}
	known := []string{"_metadata", "display_information", "features", "oauth_config", "settings"}
	for k := range top {
		if !slices.Contains(known, k) {
			t.Errorf("%s: unknown top-level key %q (want only %v)", manifestFile, k, known)
		}
	}
	for _, k := range known {
		if _, ok := top[k]; !ok {
			t.Errorf("%s: top-level key %q missing", manifestFile, k)
		}
	}
}

func TestManifestSocketModeAndInteractivity(t *testing.T) {
	m := readManifest(t)
	if m.Metadata == nil || m.Metadata.MajorVersion == nil || *m.Metadata.MajorVersion != 1 {
		t.Errorf("_metadata.major_version: want 1 (manifest schema 1.0)")
	}
	s := m.Settings
	if s == nil {
		t.Fatal("settings missing")
	}
	if !isTrue(s.SocketModeEnabled) {
		t.Error("settings.socket_mode_enabled: want true (the bot connects over socket mode only)")
	}
	if s.Interactivity == nil || !isTrue(s.Interactivity.IsEnabled) {
		t.Error("settings.interactivity.is_enabled: want true (the approval buttons need it)")
	} else if s.Interactivity.RequestURL != nil {
		t.Error("settings.interactivity.request_url: want none (clicks arrive over socket mode)")
	}
	if s.TokenRotationEnabled == nil || *s.TokenRotationEnabled {
		t.Error("settings.token_rotation_enabled: want false (the bot cannot refresh its xoxb- token)")
	}
	if s.OrgDeployEnabled == nil || *s.OrgDeployEnabled {
		t.Error("settings.org_deploy_enabled: want false in the shipped manifest")
	}
	if s.EventSubscriptions != nil {
		t.Error("settings.event_subscriptions: want none (the bot subscribes to no events)")
	}
}

func TestManifestSlashCommand(t *testing.T) {
	m := readManifest(t)
	if m.Features == nil || len(m.Features.SlashCommands) != 1 {
		t.Fatal("features.slash_commands: want exactly one command")
	}
	c := m.Features.SlashCommands[0]
	if c.Command == nil || *c.Command != "/backup" {
		t.Errorf("slash command: want /backup (the default of BACKUPBOT_COMMAND), got %v", deref(c.Command))
	}
	if c.ShouldEscape == nil || *c.ShouldEscape {
		t.Error("slash command should_escape: want false (set explicitly)")
	}
	if c.URL != nil {
		t.Errorf("slash command url %q: want none (commands arrive over socket mode)", *c.URL)
	}
	if c.UsageHint == nil {
		t.Error("slash command usage_hint: missing")
	}
}

func TestManifestScopes(t *testing.T) {
	m := readManifest(t)
	if m.OAuthConfig == nil || m.OAuthConfig.Scopes == nil {
		t.Fatal("oauth_config.scopes missing")
	}
	sc := m.OAuthConfig.Scopes
	got := slices.Clone(sc.Bot)
	slices.Sort(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Errorf("oauth_config.scopes.bot: %q listed twice", got[i])
		}
	}
	got = slices.Compact(got)
	for _, s := range got {
		if !slices.Contains(wantBotScopes, s) {
			t.Errorf("oauth_config.scopes.bot: %q is not a scope the bot needs; if it now does, add it to wantBotScopes in deploy_test.go", s)
		}
	}
	for _, s := range wantBotScopes {
		if !slices.Contains(got, s) {
			t.Errorf("oauth_config.scopes.bot: %q missing; the bot needs it (see the manifest's comments)", s)
		}
	}
	if len(sc.User) > 0 || len(sc.UserOptional) > 0 || len(sc.BotOptional) > 0 {
		t.Errorf("oauth_config.scopes: want bot scopes only, got user %v, user_optional %v, bot_optional %v",
			sc.User, sc.UserOptional, sc.BotOptional)
	}
}

// TestManifestLengths checks the limits of Slack's manifest schema 1.0,
// counted in characters.
func TestManifestLengths(t *testing.T) {
	m := readManifest(t)
	check := func(field string, v *string, min, max int) {
		t.Helper()
		if v == nil {
			if min > 0 {
				t.Errorf("%s: missing", field)
			}
			return
		}
		if n := utf8.RuneCountInString(*v); n < min || n > max {
			t.Errorf("%s: %d characters, want %d..%d", field, n, min, max)
		}
	}
	if m.DisplayInformation == nil {
		t.Fatal("display_information missing")
	}
	check("display_information.name", m.DisplayInformation.Name, 1, 35)
	check("display_information.description", m.DisplayInformation.Description, 1, 140)
	if m.Features == nil || m.Features.BotUser == nil {
		t.Fatal("features.bot_user missing (the bot token comes with the bot user)")
	}
	check("features.bot_user.display_name", m.Features.BotUser.DisplayName, 1, 80)
	for i, c := range m.Features.SlashCommands {
		check("slash command command", c.Command, 2, 32)
		if c.Command != nil && !strings.HasPrefix(*c.Command, "/") {
			t.Errorf("slash command %d: %q does not start with /", i, *c.Command)
		}
		check("slash command description", c.Description, 1, 2000)
		check("slash command usage_hint", c.UsageHint, 1, 1000)
	}
}

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

// TestSamplePolicyIsYAML checks that the built-in sample is one well-formed
// YAML mapping with accounts. Whether it is a valid policy is the auth
// package's test: deploy does not depend on auth.
func TestSamplePolicyIsYAML(t *testing.T) {
	data := SamplePolicy()
	if len(data) == 0 {
		t.Fatal("SamplePolicy is empty")
	}
	onDisk, err := os.ReadFile("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, onDisk) {
		t.Error("SamplePolicy differs from policy.yaml")
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("policy.yaml: %v", err)
	}
	if _, ok := doc["accounts"].(map[string]any); !ok {
		t.Error("policy.yaml: no accounts mapping")
	}
	data[0] ^= 0xff // SamplePolicy returns a copy
	if !bytes.Equal(SamplePolicy(), onDisk) {
		t.Error("SamplePolicy returns its embedded bytes, not a copy")
	}
}
