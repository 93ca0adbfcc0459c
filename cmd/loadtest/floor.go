package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// The floor run measures the machine, not the bot: the same burst against
// a null app, this program run with -null-app, that acks every slash
// command at once, through slack-go's socket mode as the bot does, and
// records nothing. Its ack latency is what the fake Slack, slack-go and
// the two processes sharing the cores cost before the bot does anything;
// on a shared machine the bot's figures are best read as a ratio to it.

// floorScenario is the floor run.
func floorScenario() scenario {
	return scenario{key: "floor", name: "floor: a null app that acks at once and records nothing", replicas: 1, floor: true}
}

// nullAppFlag runs this program as the floor run's null app.
const nullAppFlag = "-null-app"

// runNullApp is the null app: it serves /healthz and /metrics (empty) on
// 127.0.0.1, says where as the bot does, opens two socket-mode connections
// with the bot's environment (SLACK_APP_TOKEN, SLACK_BOT_TOKEN,
// SLACK_API_URL), and acks each slash command with a short private text.
// It runs until it is stopped (SIGTERM, or an interrupt).
func runNullApp() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	}()
	fmt.Fprintf(os.Stderr, `{"level":"info","msg":"serving /healthz and /metrics","addr":%q}`+"\n", ln.Addr().String())
	api := slack.New(os.Getenv("SLACK_BOT_TOKEN"), slack.OptionAppLevelToken(os.Getenv("SLACK_APP_TOKEN")),
		slack.OptionAPIURL(os.Getenv("SLACK_API_URL")))
	errs := make(chan error, 2)
	for range 2 {
		sm := socketmode.New(api)
		go func() {
			for evt := range sm.Events {
				if evt.Type != socketmode.EventTypeSlashCommand || evt.Request == nil {
					continue
				}
				cmd, _ := evt.Data.(slack.SlashCommand)
				req := *evt.Request
				go sm.Ack(req, map[string]any{"response_type": "ephemeral", "text": "Taken: " + cmd.Text})
			}
		}()
		go func() { errs <- sm.RunContext(ctx) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		return err
	}
}
